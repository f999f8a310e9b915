"""The care program's SQL (CONVENTIONS 10): records, conditions, medications and plan items with
their versions, reading times for adherence, and the patient's answers. Schema: migration 0008.

Versioned rows (conditions, medications, plan items) are never edited except to close them:
`_replace` sets `valid_to = now` on the row in force and inserts the new version, in the
caller's transaction. Callers (API routes, the scheduler) own transactions and the audit log.

Must not: decide anything (program.plans, program.adherence decide) or commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from program.adherence import Billing, ItemAdherence, billing, per_item
from program.plans import TEMPLATES, Frequency, PlanItem
from program.records import Condition, Medication, Record
from program.slots import local_date

Conn = AsyncConnection[Any]
RECORD_FIELDS = ("birth_date", "sex", "phone", "responsible_nurse", "enrolled_on",
                 "discharged_on", "consent_at", "consent_scope", "reminders_opt_out",
                 "quiet_start", "quiet_end")  # fmt: skip


Params = Sequence[Any] | dict[str, Any]
# Versions in force at %(at)s (every version when it is NULL).
_AT = (" AND (%(at)s::timestamptz IS NULL OR (valid_from <= %(at)s"
       " AND (valid_to IS NULL OR valid_to > %(at)s)))")  # fmt: skip
_SINCE = " AND (%(since)s::timestamptz IS NULL OR valid_to IS NULL OR valid_to > %(since)s)"
_INSERT_ITEM = (
    "INSERT INTO plan_items (patient_id, item_key, metrics, frequency, local_times, weekday,"
    " grace_s, template, valid_from, changed_by)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


async def _rows(conn: Conn, sql: str, params: Params) -> list[dict[str, Any]]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(sql, params)
    return await cur.fetchall()


async def get_record(conn: Conn, patient_id: str, at: datetime) -> Record | None:
    """The record with the conditions and medications in force at `at`."""
    rows = await _rows(conn, "SELECT p.id AS patient_id, p.tz, p.lang, p.responsible_doctor, r.*"
                       " FROM patients p LEFT JOIN patient_records r ON r.patient_id = p.id"
                       " WHERE p.id = %s", (patient_id,))  # fmt: skip
    if not rows:
        return None
    row = rows[0]
    fields = {k: row[k] for k in RECORD_FIELDS if row.get(k) is not None}
    fields["consent_scope"] = tuple(fields.get("consent_scope", ()))
    return Record(patient_id, row["tz"], row["lang"], responsible_doctor=row["responsible_doctor"],
                  conditions=tuple(await conditions(conn, patient_id, at)),
                  medications=tuple(await medications(conn, patient_id, at)),
                  **fields)  # fmt: skip


async def save_record(conn: Conn, patient_id: str, changes: dict[str, Any], by: str,
                      now: datetime) -> None:  # fmt: skip
    """Insert or update the record's own fields (not versioned; audited by the caller)."""
    cols = [k for k in changes if k in RECORD_FIELDS]
    names = ", ".join(cols)
    values = ", ".join(f"%({c})s" for c in cols)
    updates = "".join(f", {c} = EXCLUDED.{c}" for c in cols)
    await conn.execute(
        f"INSERT INTO patient_records (patient_id, updated_at, updated_by{', ' if cols else ''}"
        f"{names}) VALUES (%(pid)s, %(now)s, %(by)s{', ' if cols else ''}{values})"
        f" ON CONFLICT (patient_id) DO UPDATE SET updated_at = EXCLUDED.updated_at,"
        f" updated_by = EXCLUDED.updated_by{updates}",
        {**{c: changes[c] for c in cols}, "pid": patient_id, "now": now, "by": by},
    )


async def conditions(conn: Conn, patient_id: str, at: datetime | None) -> list[Condition]:
    """Conditions in force at `at` (every version when `at` is None)."""
    rows = await _rows(conn, "SELECT system, code, display, valid_from, valid_to"
                       " FROM patient_conditions WHERE patient_id = %(p)s" + _AT +
                       " ORDER BY valid_from, id", {"p": patient_id, "at": at})  # fmt: skip
    return [Condition(**r) for r in rows]


async def add_condition(conn: Conn, patient_id: str, c: Condition, by: str, now: datetime) -> bool:
    """False when the same code is already in force."""
    cur = await conn.execute(
        "INSERT INTO patient_conditions (patient_id, system, code, display, valid_from, changed_by)"
        " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
        (patient_id, c.system, c.code, c.display, now, by),
    )
    return cur.rowcount == 1


async def end_condition(conn: Conn, patient_id: str, system: str, code: str, now: datetime) -> bool:
    cur = await conn.execute(
        "UPDATE patient_conditions SET valid_to = %s WHERE patient_id = %s AND system = %s"
        " AND code = %s AND valid_to IS NULL", (now, patient_id, system, code))  # fmt: skip
    return cur.rowcount == 1


async def medications(conn: Conn, patient_id: str, at: datetime | None) -> list[Medication]:
    rows = await _rows(conn, "SELECT medication_key, name, dose, times, valid_from, valid_to"
                       " FROM patient_medications WHERE patient_id = %(p)s" + _AT +
                       " ORDER BY valid_from, id", {"p": patient_id, "at": at})  # fmt: skip
    return [Medication(**{**r, "times": tuple(r["times"])}) for r in rows]


async def set_medication(conn: Conn, patient_id: str, m: Medication, by: str, now: datetime,
                         reason: str = "") -> None:  # fmt: skip
    """A new medication, or a new version of one (the version in force is closed at `now`)."""
    await end_medication(conn, patient_id, m.medication_key, now)
    await conn.execute(
        "INSERT INTO patient_medications (patient_id, medication_key, name, dose, times,"
        " valid_from, changed_by, reason) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (patient_id, m.medication_key, m.name, m.dose, list(m.times), now, by, reason),
    )


async def end_medication(conn: Conn, patient_id: str, key: str, now: datetime) -> bool:
    cur = await conn.execute(
        "UPDATE patient_medications SET valid_to = %s WHERE patient_id = %s"
        " AND medication_key = %s AND valid_to IS NULL", (now, patient_id, key))  # fmt: skip
    return cur.rowcount == 1


def item_from_row(r: dict[str, Any]) -> PlanItem:
    return PlanItem(r["item_key"], tuple(r["metrics"]), Frequency(r["frequency"]),
                    tuple(r["local_times"]), r["weekday"], r["grace_s"], r["template"],
                    r["valid_from"], r["valid_to"])  # fmt: skip


async def plan(conn: Conn, patient_id: str, at: datetime | None = None,
               since: datetime | None = None) -> list[PlanItem]:  # fmt: skip
    """Plan item versions: in force at `at`; or, with `since`, every version in force at any
    time after `since` (what adherence needs); or all of them. Oldest first."""
    params = {"p": patient_id, "at": at, "since": since}
    rows = await _rows(conn, "SELECT * FROM plan_items WHERE patient_id = %(p)s" + _AT + _SINCE
                       + " ORDER BY valid_from, id", params)  # fmt: skip
    return [item_from_row(r) for r in rows]


async def set_plan_item(
    conn: Conn, patient_id: str, item: PlanItem, by: str, now: datetime
) -> None:
    """A new item, or a new version of one (the version in force is closed at `now`)."""
    await end_plan_item(conn, patient_id, item.item_key, now)
    await conn.execute(
        _INSERT_ITEM,
        (patient_id, item.item_key, list(item.metrics), item.frequency.value,
         list(item.local_times), item.weekday, item.grace_s, item.template, now, by),
    )  # fmt: skip


async def end_plan_item(conn: Conn, patient_id: str, key: str, now: datetime) -> bool:
    cur = await conn.execute(
        "UPDATE plan_items SET valid_to = %s WHERE patient_id = %s AND item_key = %s"
        " AND valid_to IS NULL", (now, patient_id, key))  # fmt: skip
    return cur.rowcount == 1


async def apply_template(
    conn: Conn, patient_id: str, name: str, by: str, now: datetime
) -> list[PlanItem]:
    """Add (or replace, by item key) the items of template `name`; KeyError if unknown."""
    items = TEMPLATES[name].items
    for item in items:
        await set_plan_item(conn, patient_id, item, by, now)
    return list(items)


async def reading_times(conn: Conn, patient_id: str, metrics: Sequence[str],
                        since: datetime) -> dict[str, list[float]]:  # fmt: skip
    """Measurement times (epoch seconds, ascending) per metric since `since`."""
    cur = await conn.execute(
        "SELECT metric, array_agg(extract(epoch FROM time)::float8 ORDER BY time) FROM readings"
        " WHERE patient_id = %s AND metric = ANY(%s) AND time >= %s GROUP BY metric",
        (patient_id, list(metrics), since),
    )
    return {m: list(ts) for m, ts in await cur.fetchall()}


async def data_dates(conn: Conn, patient_id: str, tz: str, since: datetime) -> set[date]:
    """Local dates (in `tz`) with any reading since `since`."""
    cur = await conn.execute(
        "SELECT DISTINCT (time AT TIME ZONE %s)::date FROM readings"
        " WHERE patient_id = %s AND time >= %s", (tz, patient_id, since))  # fmt: skip
    return {d for (d,) in await cur.fetchall()}


async def adherence(conn: Conn, patient_id: str, tz: str, enrolled_on: date | None,
                    now: datetime) -> tuple[list[ItemAdherence], Billing]:  # fmt: skip
    """Per plan item counts over 7 and 30 days, and the billing period's days with data."""
    zone = ZoneInfo(tz)
    since = datetime.fromtimestamp(now.timestamp() - 32 * 86400, zone)
    versions = await plan(conn, patient_id, since=since)
    metrics = sorted({m for v in versions for m in v.metrics})
    times = await reading_times(conn, patient_id, metrics, since) if metrics else {}
    today = local_date(now.timestamp(), zone)
    days = await data_dates(conn, patient_id, tz, since)  # a period starts at most 29 days ago
    return per_item(versions, times, zone, now), billing(days, today, enrolled_on)


async def record_answer(conn: Conn, patient_id: str, kind: str, ref_key: str, slot_at: datetime,
                        answered_at: datetime, via: str) -> bool:  # fmt: skip
    """Store an answer once; False if this slot was already answered."""
    cur = await conn.execute(
        "INSERT INTO patient_answers (patient_id, kind, ref_key, slot_at, answered_at, via)"
        " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
        (patient_id, kind, ref_key, slot_at, answered_at, via),
    )
    return cur.rowcount == 1


async def taken_times(conn: Conn, patient_id: str, since: datetime) -> dict[str, list[float]]:
    """Medication doses answered "taken", per medication key: slot times, epoch seconds."""
    cur = await conn.execute(
        "SELECT ref_key, array_agg(extract(epoch FROM slot_at)::float8 ORDER BY slot_at)"
        " FROM patient_answers WHERE patient_id = %s AND kind = 'taken' AND slot_at >= %s"
        " GROUP BY ref_key", (patient_id, since))  # fmt: skip
    return {k: list(ts) for k, ts in await cur.fetchall()}


async def responsible(conn: Conn, patient_id: str) -> tuple[str | None, str | None]:
    """The patient's responsible doctor and nurse (who may edit the record, with admins)."""
    cur = await conn.execute(
        "SELECT p.responsible_doctor, r.responsible_nurse FROM patients p"
        " LEFT JOIN patient_records r ON r.patient_id = p.id WHERE p.id = %s",
        (patient_id,),
    )
    row = await cur.fetchone()
    return (row[0], row[1]) if row else (None, None)


async def bound_patient(conn: Conn, device_id: str, at: datetime) -> str | None:
    """The patient a device measures at `at` (its binding), if any."""
    cur = await conn.execute(
        "SELECT patient_id FROM device_bindings WHERE device_id = %s AND valid_from <= %s"
        " AND (valid_to IS NULL OR valid_to > %s)", (device_id, at, at))  # fmt: skip
    row = await cur.fetchone()
    return None if row is None else str(row[0])


_MANY_PATIENTS = """
SELECT p.id, p.tz, r.enrolled_on FROM patients p
  LEFT JOIN patient_records r ON r.patient_id = p.id
 WHERE %(ids)s::text[] IS NULL OR p.id = ANY(%(ids)s)
"""
_MANY_ITEMS = """
SELECT * FROM plan_items
 WHERE (valid_to IS NULL OR valid_to > %(since)s)
   AND (%(ids)s::text[] IS NULL OR patient_id = ANY(%(ids)s))
 ORDER BY patient_id, valid_from, id
"""
_MANY_TIMES = """
SELECT r.patient_id, r.metric, array_agg(extract(epoch FROM r.time)::float8 ORDER BY r.time)
  FROM readings r
 WHERE r.time >= %(since)s AND (%(ids)s::text[] IS NULL OR r.patient_id = ANY(%(ids)s))
 GROUP BY r.patient_id, r.metric
"""
_MANY_DAYS = """
SELECT r.patient_id, array_agg(DISTINCT (r.time AT TIME ZONE p.tz)::date)
  FROM readings r JOIN patients p ON p.id = r.patient_id
 WHERE r.time >= %(since)s AND (%(ids)s::text[] IS NULL OR r.patient_id = ANY(%(ids)s))
 GROUP BY r.patient_id
"""


async def adherence_many(
    conn: Conn, now: datetime, patient_ids: Sequence[str] | None = None
) -> dict[str, tuple[list[ItemAdherence], Billing]]:
    """`adherence` for many patients (all when `patient_ids` is None) in four queries: what a
    periodic recompute (risk tiers, KPIs) or a benchmark calls."""
    params = {"since": now - timedelta(days=32),
              "ids": None if patient_ids is None else list(patient_ids)}  # fmt: skip
    cur = await conn.execute(_MANY_PATIENTS, params)
    patients = {pid: (tz, enrolled) for pid, tz, enrolled in await cur.fetchall()}
    versions: dict[str, list[PlanItem]] = {}
    for r in await _rows(conn, _MANY_ITEMS, params):
        versions.setdefault(r["patient_id"], []).append(item_from_row(r))
    times: dict[str, dict[str, list[float]]] = {}
    cur = await conn.execute(_MANY_TIMES, params)
    for pid, metric, ts in await cur.fetchall():
        times.setdefault(pid, {})[metric] = ts
    cur = await conn.execute(_MANY_DAYS, params)
    days = {pid: set(ds) for pid, ds in await cur.fetchall()}
    out = {}
    for pid, (tz, enrolled) in patients.items():
        zone = ZoneInfo(tz)
        today = local_date(now.timestamp(), zone)
        items = per_item(versions.get(pid, []), times.get(pid, {}), zone, now)
        out[pid] = (items, billing(days.get(pid, set()), today, enrolled))
    return out
