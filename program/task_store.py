"""Tasks and follow-up records on PostgreSQL: lists per team, the task under its row lock, the
record a completion writes, planned follow-up calls, and the audit rows of every change.

Must not: decide what a completion means (program.tasks, program.follow_up) or commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from program.tasks import Completion, TaskKind

TASK_COLUMNS = (
    "t.id, t.patient_id, t.team_id, t.kind, t.owner_role, t.owner, t.due_at, t.status,"
    " t.alert_id, t.reason, t.attempts, t.created_at, t.created_by, t.completed_at,"
    " t.completed_by, t.outcome"
)
RECORD_COLUMNS = (
    "id, task_id, patient_id, at, recorded_by, contact_type, outcome, symptoms,"
    " medication_changes, advice_given, note, visit_at, visit_place, next_contact_at"
)


async def team_tasks(
    conn: AsyncConnection[Any],
    team_id: str,
    now: datetime,
    overdue_only: bool,
    limit: int,
    due_before: datetime | None = None,
) -> list[dict[str, Any]]:
    """Open tasks of a team due before `due_before` (None: any time), earliest due first (only
    those past due with `overdue_only`)."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        f"SELECT {TASK_COLUMNS}, (t.due_at < %(now)s) AS overdue, r.tier AS risk_tier"
        " FROM care_tasks t LEFT JOIN patient_risk r ON r.patient_id = t.patient_id"
        " WHERE t.team_id = %(team)s AND t.status = 'open'"
        " AND (NOT %(overdue)s OR t.due_at < %(now)s)"
        " AND (%(before)s::timestamptz IS NULL OR t.due_at < %(before)s)"
        " ORDER BY t.due_at, t.id LIMIT %(limit)s",
        {
            "team": team_id,
            "now": now,
            "overdue": overdue_only,
            "limit": limit,
            "before": due_before,
        },
    )
    return await cur.fetchall()


async def locked_task(conn: AsyncConnection[Any], task_id: uuid.UUID) -> dict[str, Any] | None:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(f"SELECT {TASK_COLUMNS} FROM care_tasks t WHERE t.id = %s FOR UPDATE",
                      (task_id,))  # fmt: skip
    return await cur.fetchone()


async def task(conn: AsyncConnection[Any], task_id: uuid.UUID) -> dict[str, Any] | None:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(f"SELECT {TASK_COLUMNS} FROM care_tasks t WHERE t.id = %s", (task_id,))
    return await cur.fetchone()


async def close(
    conn: AsyncConnection[Any], task_id: uuid.UUID, outcome: str, by: str, now: datetime
) -> None:
    await conn.execute(
        "UPDATE care_tasks SET status = 'done', outcome = %s, completed_by = %s,"
        " completed_at = %s WHERE id = %s AND status = 'open'",
        (outcome, by, now, task_id),
    )


async def count_attempt(conn: AsyncConnection[Any], task_id: uuid.UUID) -> None:
    await conn.execute("UPDATE care_tasks SET attempts = attempts + 1 WHERE id = %s", (task_id,))


async def write_record(
    conn: AsyncConnection[Any],
    record_id: uuid.UUID,
    t: dict[str, Any],
    c: Completion,
    by: str,
    now: datetime,
) -> None:
    """Insert the record, or fill in the one the alert workflow wrote for this task."""
    await conn.execute(
        f"INSERT INTO follow_up_records ({RECORD_COLUMNS}) VALUES (%(id)s, %(task)s, %(pid)s,"
        " %(now)s, %(by)s, %(contact)s, %(outcome)s, %(symptoms)s, %(meds)s, %(advice)s,"
        " %(note)s, %(visit_at)s, %(place)s, %(next)s) ON CONFLICT (id) DO UPDATE SET"
        " recorded_by = EXCLUDED.recorded_by, contact_type = EXCLUDED.contact_type,"
        " symptoms = EXCLUDED.symptoms, medication_changes = EXCLUDED.medication_changes,"
        " advice_given = EXCLUDED.advice_given, note = EXCLUDED.note,"
        " visit_at = EXCLUDED.visit_at, visit_place = EXCLUDED.visit_place,"
        " next_contact_at = EXCLUDED.next_contact_at",
        {"id": record_id, "task": t["id"], "pid": t["patient_id"], "now": now, "by": by,
         "contact": c.contact_type.value, "outcome": c.outcome.value, "symptoms": c.symptoms,
         "meds": c.medication_changes, "advice": c.advice_given, "note": c.note,
         "visit_at": c.visit_at, "place": c.visit_place, "next": c.next_contact_at},
    )  # fmt: skip


async def records(conn: AsyncConnection[Any], patient_id: str, limit: int) -> list[dict[str, Any]]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        f"SELECT {RECORD_COLUMNS} FROM follow_up_records WHERE patient_id = %s"
        " ORDER BY at DESC, id LIMIT %s",
        (patient_id, limit),
    )
    return await cur.fetchall()


async def audit(
    conn: AsyncConnection[Any],
    now: datetime,
    actor: str,
    role: str,
    action: str,
    t: dict[str, Any],
    detail: dict[str, Any],
) -> None:
    await conn.execute(
        "INSERT INTO audit_log (at, actor, role, action, resource, patient_id, detail)"
        " VALUES (%s, %s, %s, %s, 'task', %s, %s)",
        (now, actor, role, action, t["patient_id"], Jsonb({"task_id": str(t["id"]), **detail})),
    )


async def plan_calls(
    conn: AsyncConnection[Any], patient_id: str, dues: Sequence[datetime], now: datetime
) -> int:
    """Open the planned follow-up calls not yet planned (ids from patient and due time), each
    with its audit row; the number opened."""
    ids = [uuid.uuid5(uuid.NAMESPACE_URL, f"vigil:call|{patient_id}|{d.isoformat()}") for d in dues]
    cur = await conn.execute(
        "WITH t AS (INSERT INTO care_tasks (id, patient_id, team_id, kind, owner_role, owner,"
        " due_at, reason, created_at, created_by)"
        " SELECT u.id, p.id, p.team_id, %(kind)s, 'nurse', rec.responsible_nurse, u.due,"
        " 'planned follow-up call', %(now)s, 'system'"
        " FROM unnest(%(ids)s::uuid[], %(dues)s::timestamptz[]) AS u(id, due)"
        " JOIN patients p ON p.id = %(pid)s"
        " LEFT JOIN patient_records rec ON rec.patient_id = p.id ON CONFLICT DO NOTHING"
        " RETURNING id, patient_id, due_at)"
        " INSERT INTO audit_log (at, actor, role, action, resource, patient_id, detail)"
        " SELECT %(now)s, 'system', 'system', 'create', 'task', patient_id,"
        "   jsonb_build_object('task_id', id, 'kind', %(kind)s, 'due_at', due_at) FROM t",
        {"kind": TaskKind.FOLLOW_UP_CALL.value, "ids": ids, "dues": list(dues), "pid": patient_id,
         "now": now},
    )  # fmt: skip
    return cur.rowcount
