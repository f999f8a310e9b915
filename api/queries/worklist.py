"""The worklist's read: open alerts of some care teams at some tiers, most urgent first, with
their patient's name and time zone, and the live feed's seq at the same snapshot.

Run `rows` and `feed_seq` in one REPEATABLE READ transaction (`snapshot`): alert events are
numbered in commit order (alerts._sql), so every event up to the seq read is reflected in the rows
read and a page resumes the websocket after that seq, missing and repeating nothing.
Must not: decide who may see what (the caller passes teams and tiers) or write.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

SEVERITY_ORDER = ("critical", "high", "moderate", "info")  # most urgent first

_OPEN = """
    SELECT a.id, a.patient_id, p.display_name AS patient_name, p.tz AS patient_tz, p.team_id,
           a.rule_id, a.title, a.severity, a.status, a.tier, a.due, a.deadline, a.dangerous,
           a.metric, a.unit, a.first_value, a.last_value, a.worst_value, a.count,
           a.opened_at, a.last_seen_at, a.assigned_to, s.name AS assignee_name,
           a.acknowledged_by, a.acknowledged_at, a.snoozed_until
      FROM alerts a JOIN patients p ON p.id = a.patient_id
      LEFT JOIN staff s ON s.id = a.assigned_to
     WHERE a.status <> 'resolved'
       AND (%(alert)s::uuid IS NULL OR a.id = %(alert)s)
       AND p.team_id = ANY(%(teams)s) AND a.tier = ANY(%(tiers)s)
       AND (%(severity)s::text IS NULL OR a.severity = %(severity)s)
       AND (%(mine)s::text IS NULL OR a.assigned_to = %(mine)s
            OR (a.assigned_to IS NULL AND a.acknowledged_by = %(mine)s))
     ORDER BY array_position(%(order)s::text[], a.severity), a.deadline ASC NULLS LAST,
              a.opened_at, a.id
     LIMIT %(limit)s
"""


@dataclass(frozen=True, slots=True)
class WorklistQuery:
    team_ids: list[str]
    tiers: list[int]
    severity: str | None
    mine: str | None  # a staff id: alerts assigned to them (or acknowledged, if unassigned)
    limit: int
    alert_id: uuid.UUID | None = None  # just this alert (a page re-fetching one row)


async def snapshot(conn: AsyncConnection[Any]) -> None:
    """Make the connection's transaction one snapshot (call first in the transaction)."""
    await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")


async def rows(conn: AsyncConnection[Any], q: WorklistQuery) -> list[dict[str, Any]]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        _OPEN,
        {"teams": q.team_ids, "tiers": q.tiers, "severity": q.severity, "mine": q.mine,
         "alert": q.alert_id, "order": list(SEVERITY_ORDER), "limit": q.limit},
        binary=True,  # a third faster to read than text for 2,000 rows of times and numbers
    )  # fmt: skip
    return await cur.fetchall()


async def feed_seq(conn: AsyncConnection[Any]) -> int:
    cur = await conn.execute("SELECT COALESCE(max(seq), 0) FROM alert_events")
    row = await cur.fetchone()
    return int(row[0]) if row else 0
