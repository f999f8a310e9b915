"""Reads of alerts and their events, scoped in SQL to care teams or to one patient.

Writes to alerts are alerts.response's business, never this module's.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

COLUMNS = (
    "id", "patient_id", "rule_id", "title", "severity", "status", "tier", "due", "deadline",
    "metric", "unit", "first_value", "last_value", "worst_value", "count", "opened_at",
    "last_seen_at", "assigned_to", "acknowledged_by", "acknowledged_at", "resolved_at",
    "resolved_by", "outcome", "snoozed_until", "snooze_reason",
)  # fmt: skip
_SELECT = ", ".join(f"a.{c}" for c in COLUMNS)


@dataclass(frozen=True, slots=True)
class AlertFilter:
    team_ids: list[str] | None  # staff: their teams
    own_patient: str | None  # a patient: themselves
    status: str | None = None
    severity: str | None = None
    tier: int | None = None
    patient_id: str | None = None
    since: datetime | None = None
    after: tuple[Any, ...] | None = None  # (opened_at, id) of the previous page's last row


_LIST = f"""
    SELECT {_SELECT}
      FROM alerts a JOIN patients p ON p.id = a.patient_id
     WHERE (%(teams)s::text[] IS NULL OR p.team_id = ANY(%(teams)s))
       AND (%(own)s::text IS NULL OR a.patient_id = %(own)s)
       AND (%(status)s::text IS NULL OR a.status = %(status)s)
       AND (%(severity)s::text IS NULL OR a.severity = %(severity)s)
       AND (%(tier)s::smallint IS NULL OR a.tier = %(tier)s)
       AND (%(patient)s::text IS NULL OR a.patient_id = %(patient)s)
       AND (%(since)s::timestamptz IS NULL OR a.opened_at >= %(since)s)
       AND (%(at)s::timestamptz IS NULL OR (a.opened_at, a.id) < (%(at)s, %(aid)s::uuid))
     ORDER BY a.opened_at DESC, a.id DESC
     LIMIT %(limit)s
"""


async def page(conn: AsyncConnection[Any], f: AlertFilter, limit: int) -> list[dict[str, Any]]:
    at, aid = f.after or (None, None)
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        _LIST,
        {"teams": f.team_ids, "own": f.own_patient, "status": f.status,
         "severity": f.severity, "tier": f.tier, "patient": f.patient_id, "since": f.since,
         "at": at, "aid": aid, "limit": limit},
    )  # fmt: skip
    return await cur.fetchall()


async def get(conn: AsyncConnection[Any], alert_id: uuid.UUID) -> dict[str, Any] | None:
    """The alert with its patient's team (`team_id`), unscoped: the caller checks."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        f"SELECT {_SELECT}, p.team_id FROM alerts a JOIN patients p ON p.id = a.patient_id"
        " WHERE a.id = %s",
        (alert_id,),
    )
    return await cur.fetchone()


async def events(conn: AsyncConnection[Any], alert_id: uuid.UUID) -> list[dict[str, Any]]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT seq, event_id, kind, at, actor, tier, payload FROM alert_events"
        " WHERE alert_id = %s ORDER BY seq",
        (alert_id,),
    )
    return await cur.fetchall()
