"""Completing a task, in the caller's transaction: the task under its row lock, the alert of a
callback resolved through the alert workflow (which closes the task: the alert leads, see
migration 0009's `program_follow_alert`), the follow-up record, and the audit rows.

Errors (none retriable by repeating the request):

    TaskError
    ├── TaskNotFoundError   no such task, or one of another team (the API answers 404)
    └── TaskRefusedError    the task is closed, or the caller may not complete it (409)
    program.tasks.CompletionError: the completion does not say what it must (422)

Must not: open its own transaction, or change an alert other than through `PgResponse.act_in`.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from alerts.actions import Actor, Resolve
from alerts.response import PgResponse
from program import task_store as store
from program.tasks import ALERT_OUTCOME, Completion, TaskKind


class TaskError(Exception):
    """A task cannot be changed as asked."""


class TaskNotFoundError(TaskError):
    pass


class TaskRefusedError(TaskError):
    pass


def record_id(task_id: uuid.UUID) -> uuid.UUID:
    """The id of the record that closes a task; the same as migration 0009's trigger computes
    (md5 of 'record|<task id>'), so the alert workflow's record and the completion's meet."""
    return uuid.UUID(hashlib.md5(f"record|{task_id}".encode()).hexdigest())


async def complete(
    conn: AsyncConnection[Any],
    response: PgResponse,
    task_id: uuid.UUID,
    c: Completion,
    actor: Actor,
    now: datetime,
) -> dict[str, Any]:
    """Complete (or record an unsuccessful attempt at) a task; the task after the change."""
    t = await store.locked_task(conn, task_id)
    if t is None or not actor.sees(t["team_id"]):
        raise TaskNotFoundError(f"no task {task_id}")
    if t["status"] != "open":
        raise TaskRefusedError("the task is closed")
    if t["kind"] == TaskKind.CALLBACK and actor.role not in ("doctor", "admin"):
        raise TaskRefusedError("a tier-3 callback is completed by a doctor")
    if not c.closes_task:
        await store.count_attempt(conn, task_id)
        await store.write_record(conn, uuid.uuid4(), t, c, actor.id, now)
        await store.audit(conn, now, actor.id, actor.role, "attempt", t, {"outcome": c.outcome})
    else:
        await _close(conn, response, t, c, actor, now)
    after = await store.task(conn, task_id)
    assert after is not None, "the task is locked by this transaction"
    return after


async def _close(
    conn: AsyncConnection[Any],
    response: PgResponse,
    t: dict[str, Any],
    c: Completion,
    actor: Actor,
    now: datetime,
) -> None:
    if t["kind"] == TaskKind.CALLBACK:
        outcome = ALERT_OUTCOME[c.outcome]
        assert outcome is not None, "only an outcome that closes the task gets here"
        # The alert leads: resolving it closes this task in the same transaction (0009).
        resolve = Resolve(outcome, c.note, c.visit_at, c.visit_place or "")
        await response.act_in(conn, t["alert_id"], resolve, actor)
    else:
        await store.close(conn, t["id"], c.outcome.value, actor.id, now)
        await store.audit(conn, now, actor.id, actor.role, "complete", t,
                          {"outcome": c.outcome})  # fmt: skip
    await store.write_record(conn, record_id(t["id"]), t, c, actor.id, now)
