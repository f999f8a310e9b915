"""The scheduler's SQL (program.scheduler): who is in the program with their preferences, plan
items and medications in force, the latest reading per planned metric, open stopped-measuring
alerts, and the outbox rows it writes. Schema: migrations 0003, 0005, 0008.

Must not: decide what is due (program.reminders, program.stopped) or commit (callers do).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from alerts._sql import OUTBOX_CHANNEL
from program.plans import PlanItem
from program.records import Medication
from program.reminders import Outgoing, Prefs
from program.repository import item_from_row
from program.stopped import RULE_ID

Conn = AsyncConnection[Any]

_PATIENTS = """
SELECT p.id, p.tz, p.lang, coalesce(r.reminders_opt_out, false) AS opt_out,
       coalesce(r.quiet_start, '22:00') AS quiet_start, coalesce(r.quiet_end, '07:00') AS quiet_end
  FROM patients p LEFT JOIN patient_records r ON r.patient_id = p.id
 WHERE (r.discharged_on IS NULL OR r.discharged_on > %(today)s)
   AND (EXISTS (SELECT 1 FROM plan_items i WHERE i.patient_id = p.id AND i.valid_to IS NULL)
        OR EXISTS (SELECT 1 FROM patient_medications m
                    WHERE m.patient_id = p.id AND m.valid_to IS NULL))
 ORDER BY p.id
"""
_ITEMS = "SELECT * FROM plan_items WHERE valid_to IS NULL AND patient_id = ANY(%s) ORDER BY id"
_MEDS = (
    "SELECT patient_id, medication_key, name, dose, times, valid_from, valid_to"
    " FROM patient_medications WHERE valid_to IS NULL AND patient_id = ANY(%s) ORDER BY id"
)
_LAST = """
SELECT k.patient_id, k.metric,
       (SELECT extract(epoch FROM max(r.time))::float8 FROM readings r
         WHERE r.patient_id = k.patient_id AND r.metric = k.metric
           AND r.time >= %(since)s) AS last_t
  FROM (SELECT DISTINCT patient_id, unnest(metrics) AS metric FROM plan_items
         WHERE valid_to IS NULL AND patient_id = ANY(%(ids)s)) k
"""
_OPEN_STOPPED = "SELECT patient_id FROM alerts WHERE rule_id = %s AND status <> 'resolved'"
_INSERT = (
    "INSERT INTO patient_messages (id, alert_id, patient_id, template, lang, body, ref_key,"
    " slot_at) VALUES (%s, NULL, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING"
)  # fmt: skip


@dataclass
class Enrolled:
    patient_id: str
    prefs: Prefs
    items: list[PlanItem] = field(default_factory=list)
    medications: list[Medication] = field(default_factory=list)
    last: dict[str, float] = field(default_factory=dict)


async def enrolled(conn: Conn, today: date, since: datetime) -> list[Enrolled]:
    """Patients with a plan item or a medication in force, not discharged, with their context
    and the latest reading per planned metric since `since`."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(_PATIENTS, {"today": today})
    found = {r["id"]: Enrolled(r["id"], Prefs(r["tz"], r["lang"], r["opt_out"], r["quiet_start"],
             r["quiet_end"])) for r in await cur.fetchall()}  # fmt: skip
    ids = list(found)
    if not ids:
        return []
    await cur.execute(_ITEMS, (ids,))
    for r in await cur.fetchall():
        found[r["patient_id"]].items.append(item_from_row(r))
    await cur.execute(_MEDS, (ids,))
    for r in await cur.fetchall():
        pid = r.pop("patient_id")
        found[pid].medications.append(Medication(**{**r, "times": tuple(r["times"])}))
    await cur.execute(_LAST, {"since": since, "ids": ids})
    for r in await cur.fetchall():
        if r["last_t"] is not None:
            found[r["patient_id"]].last[r["metric"]] = r["last_t"]
    return list(found.values())


async def open_stopped(conn: Conn) -> set[str]:
    cur = await conn.execute(_OPEN_STOPPED, (RULE_ID,))
    return {pid for (pid,) in await cur.fetchall()}


async def write_messages(conn: Conn, messages: Sequence[Outgoing]) -> int:
    """Write each message once (ids are deterministic); NOTIFY the outbox if any is new."""
    written = 0
    for m in messages:
        cur = await conn.execute(_INSERT, (m.id, m.patient_id, m.template, m.lang, m.body,
                                           m.ref_key, m.slot_at))  # fmt: skip
        written += cur.rowcount
    if written:
        await conn.execute("SELECT pg_notify(%s, '')", (OUTBOX_CHANNEL,))
    return written


async def message_for_answer(conn: Conn, message_id: Any, patient_id: str) -> dict[str, Any] | None:
    """A scheduled reminder of this patient (template, ref_key, slot_at), or None."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT template, ref_key, slot_at FROM patient_messages WHERE id = %s AND patient_id = %s"
        " AND ref_key IS NOT NULL", (message_id, patient_id))  # fmt: skip
    return await cur.fetchone()
