"""The audit log (DESIGN 6): every PHI read and every alert action, written in the caller's
transaction; and the admin's view of it, scoped to the admin's care teams."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from api.auth import Principal

# One statement for any number of patients: a worklist of 2,000 alerts audits 2,000 reads
_INSERT = (
    "INSERT INTO audit_log (at, actor, role, action, resource, patient_id, detail)"
    " SELECT %s, %s, %s, %s, %s, pid, %s FROM unnest(%s::text[]) WITH ORDINALITY AS u(pid, n)"
    " ORDER BY n"
)
_INSERT_ONE = (
    "INSERT INTO audit_log (at, actor, role, action, resource, patient_id, detail)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s)"
)


async def record(
    conn: AsyncConnection[Any],
    who: Principal,
    at: datetime,
    action: str,
    resource: str,
    patient_ids: Iterable[str | None],
    detail: dict[str, Any] | None = None,
) -> None:
    """One row per patient concerned (a list of alerts across patients writes several)."""
    pids = list(dict.fromkeys(patient_ids))
    head, about = (at, who.staff_id, who.role, action, resource), Jsonb(detail or {})
    if pids == [None]:  # about no patient (a team, a session): nothing to type the array by
        await conn.execute(_INSERT_ONE, (*head, None, about))
    elif pids:
        await conn.execute(_INSERT, (*head, about, pids))


async def entries(
    conn: AsyncConnection[Any],
    team_ids: frozenset[str],
    *,
    patient_id: str | None,
    actor: str | None,
    since: datetime | None,
    before_id: int | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Entries about the teams' patients, or about the teams themselves, newest first."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        """
        SELECT a.id, a.at, a.actor, a.role, a.action, a.resource, a.patient_id, a.detail
          FROM audit_log a LEFT JOIN patients p ON p.id = a.patient_id
         WHERE (p.team_id = ANY(%(teams)s)
                OR (a.patient_id IS NULL AND (a.detail->>'team_id' = ANY(%(teams)s)
                                              OR a.detail->'team_ids' ?| %(teams)s)))
           AND (%(patient)s::text IS NULL OR a.patient_id = %(patient)s)
           AND (%(actor)s::text IS NULL OR a.actor = %(actor)s)
           AND (%(since)s::timestamptz IS NULL OR a.at >= %(since)s)
           AND (%(before)s::bigint IS NULL OR a.id < %(before)s)
         ORDER BY a.id DESC LIMIT %(limit)s
        """,
        {"teams": list(team_ids), "patient": patient_id, "actor": actor, "since": since,
         "before": before_id, "limit": limit},
    )  # fmt: skip
    return await cur.fetchall()


async def record_event(
    conn: AsyncConnection[Any],
    at: datetime,
    actor: str,
    role: str,
    action: str,
    resource: str,
    detail: dict[str, Any],
) -> None:
    """One entry concerning no patient (sign-in, sign-out, lockout, staff accounts). A
    `team_ids` list in `detail` makes it visible to those teams' admins."""
    await conn.execute(_INSERT_ONE, (at, actor, role, action, resource, None, Jsonb(detail)))
