"""The FHIR room's queries (CONVENTIONS 10): rows for reports.fhir, scoped by the caller later.

Every reading query pairs a blood-pressure message's systolic and diastolic readings into one row
(`ReadingRow.diastolic`), and names the device's kind (it decides the glucose LOINC code). The
team export streams through a server-side cursor, so its memory stays flat whatever the size.

Must not: decide visibility (the API does, with the team each function returns), or build FHIR.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from reports.fhir import ObservationKey, ReadingRow
from reports.fhir_codes import BP_COMPONENTS, BP_KEY, BY_KEY, CGM_KINDS, CodeFilter

_BP = tuple(BP_COMPONENTS)
# One row per Observation: a systolic with its diastolic partner, a diastolic only without one.
_READINGS = """
    SELECT r.patient_id, r.device_id, r.seq, r.time, r.metric, r.value,
           CASE WHEN r.metric = 'systolic_bp' THEN
                (SELECT d.value FROM readings d
                  WHERE d.device_id = r.device_id AND d.seq = r.seq
                    AND d.metric = 'diastolic_bp' AND d.time = r.time) END AS diastolic,
           dv.kind
      FROM readings r
      LEFT JOIN devices dv ON dv.id = r.device_id
     WHERE ({where})
       AND NOT (r.metric = 'diastolic_bp' AND EXISTS (
                SELECT 1 FROM readings s
                 WHERE s.device_id = r.device_id AND s.seq = r.seq
                   AND s.metric = 'systolic_bp' AND s.time = r.time))
"""
_CGM = "(dv.kind = ANY(%(cgm_kinds)s))"


@dataclass(frozen=True, slots=True)
class Search:
    """An Observation search: one patient, optional codes and a half-open time range."""

    patient_id: str
    codes: tuple[CodeFilter, ...] | None = None  # any of them; None: every code
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
    after: tuple[datetime, str, int, str] | None = None  # keyset: the last row of the last page


def _row(r: tuple[Any, ...]) -> ReadingRow:
    return ReadingRow(*r)


async def patient(conn: AsyncConnection[Any], patient_id: str) -> dict[str, Any] | None:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute("SELECT id, team_id, display_name FROM patients WHERE id = %s", (patient_id,))
    return await cur.fetchone()


_DEVICES = """
    SELECT d.id, d.kind, b.patient_id, p.team_id
      FROM devices d
      LEFT JOIN LATERAL (SELECT patient_id FROM device_bindings
                          WHERE device_id = d.id ORDER BY valid_from DESC LIMIT 1) b ON true
      LEFT JOIN patients p ON p.id = b.patient_id
"""


async def device(conn: AsyncConnection[Any], device_id: str) -> dict[str, Any] | None:
    """A device with the patient of its latest binding (and that patient's team), if any."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(_DEVICES + " WHERE d.id = %s", (device_id,))
    return await cur.fetchone()


async def devices_of(conn: AsyncConnection[Any], patient_id: str) -> list[dict[str, Any]]:
    """The devices ever bound to a patient (the patient's, as the Device resource shows it)."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT DISTINCT d.id, d.kind, %(p)s AS patient_id FROM device_bindings b"
        " JOIN devices d ON d.id = b.device_id WHERE b.patient_id = %(p)s ORDER BY d.id",
        {"p": patient_id},
    )
    return await cur.fetchall()


async def observation(
    conn: AsyncConnection[Any], key: ObservationKey
) -> tuple[ReadingRow, str] | None:
    """The Observation behind an id (its row and its patient's team), or None."""
    metrics = _BP if key.key == BP_KEY else (BY_KEY[key.key].metric,)
    where = "r.device_id = %(device)s AND r.seq = %(seq)s AND r.metric = ANY(%(metrics)s)"
    sql = _READINGS.format(where=where) + " ORDER BY r.metric DESC LIMIT 1"  # systolic first
    cur = await conn.execute(
        f"SELECT o.*, p.team_id FROM ({sql}) o JOIN patients p ON p.id = o.patient_id",
        {"device": key.device_id, "seq": key.seq, "metrics": list(metrics)},
    )
    found = await cur.fetchone()
    return None if found is None else (_row(found[:-1]), str(found[-1]))


def _code_clause(i: int, f: CodeFilter, args: dict[str, Any]) -> str:
    args[f"metrics{i}"] = list(f.metrics)
    clause = f"r.metric = ANY(%(metrics{i})s)"
    if f.cgm is None:
        return f"({clause})"
    args[f"cgm{i}"] = f.cgm
    return f"({clause} AND COALESCE({_CGM}, false) = %(cgm{i})s)"


def _search_where(s: Search) -> tuple[str, dict[str, Any]]:
    parts = ["r.patient_id = %(patient)s"]
    args: dict[str, Any] = {"patient": s.patient_id, "cgm_kinds": sorted(CGM_KINDS)}
    if s.codes is not None:
        ors = [_code_clause(i, f, args) for i, f in enumerate(s.codes)]
        parts.append("(" + " OR ".join(ors) + ")" if ors else "false")
    if s.since is not None:
        parts.append("r.time >= %(since)s")
        args["since"] = s.since
    if s.until is not None:
        parts.append("r.time < %(until)s")
        args["until"] = s.until
    if s.after is not None:
        parts.append("(r.time, r.device_id, r.seq, r.metric) < (%(ct)s, %(cd)s, %(cs)s, %(cm)s)")
        args.update(zip(("ct", "cd", "cs", "cm"), s.after, strict=True))
    return " AND ".join(parts), args


async def search(conn: AsyncConnection[Any], s: Search, limit: int) -> list[ReadingRow]:
    """Observations of a search, newest first, at most `limit`."""
    where, args = _search_where(s)
    order = " ORDER BY r.time DESC, r.device_id DESC, r.seq DESC, r.metric DESC LIMIT %(limit)s"
    cur = await conn.execute(_READINGS.format(where=where) + order, {**args, "limit": limit})
    return [_row(r) for r in await cur.fetchall()]


_ALERTS = (
    "SELECT a.id, a.patient_id, a.rule_id, a.title, a.severity, a.status, a.opened_at,"
    " a.resolved_at, p.team_id FROM alerts a JOIN patients p ON p.id = a.patient_id"
)


async def flag(conn: AsyncConnection[Any], alert_id: str) -> dict[str, Any] | None:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(_ALERTS + " WHERE a.id = %s::uuid", (alert_id,))
    return await cur.fetchone()


async def flags(conn: AsyncConnection[Any], patient_id: str) -> list[dict[str, Any]]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(_ALERTS + " WHERE a.patient_id = %s ORDER BY a.opened_at DESC", (patient_id,))
    return await cur.fetchall()


# The team export ---------------------------------------------------------------------------

_TEAM = "SELECT id FROM patients WHERE team_id = %(team)s"


async def team_patients(conn: AsyncConnection[Any], team_id: str) -> list[dict[str, Any]]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT id, team_id, display_name FROM patients WHERE team_id = %s ORDER BY id", (team_id,)
    )
    return await cur.fetchall()


async def team_devices(conn: AsyncConnection[Any], team_id: str) -> list[dict[str, Any]]:
    """Devices whose latest binding is to a patient of the team."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        f"SELECT * FROM ({_DEVICES}) x WHERE x.team_id = %s ORDER BY x.id",
        (team_id,),
    )
    return await cur.fetchall()


async def team_flags(conn: AsyncConnection[Any], team_id: str) -> list[dict[str, Any]]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(_ALERTS + " WHERE p.team_id = %s ORDER BY a.opened_at", (team_id,))
    return await cur.fetchall()


async def team_observations(
    conn: AsyncConnection[Any], team_id: str, batch: int = 10_000
) -> AsyncIterator[list[ReadingRow]]:
    """Every Observation row of a team's patients, in batches from a server-side cursor (the
    caller holds `conn` in a transaction for as long as it iterates)."""
    where = f"r.patient_id IN ({_TEAM})"
    # The whole result is read: plan for all of it, and skip JIT (its compile time is half the
    # query's on a 200,000-row team, and a streaming scan gains nothing from it).
    await conn.execute("SET LOCAL cursor_tuple_fraction = 1.0")
    await conn.execute("SET LOCAL jit = off")
    async with conn.cursor(name="fhir_export", binary=True) as cur:
        await cur.execute(_READINGS.format(where=where), {"team": team_id})
        while rows := await cur.fetchmany(batch):
            yield [_row(r) for r in rows]
