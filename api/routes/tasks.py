"""Follow-up tasks, follow-up records and risk history (the care program, program/): a team's
open and overdue tasks, completing a task (a callback's outcome resolves its alert in the same
transaction: program.follow_up), a patient's follow-up records and risk history. Another team's
task or patient is "not found"; every read and change is audited.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, Field

from alerts.response import PgResponse
from api.access import STAFF, Caller, Pool, actor, allow, check_team
from api.auth import Principal
from api.errors import ConflictError, InvalidRequestError, NotFoundError, UnavailableError
from api.queries import audit
from api.routes._common import now, visible_patient
from api.schemas import Record
from program import follow_up, risk_store, task_store
from program.tasks import Completion, CompletionError, ContactType, TaskOutcome

router = APIRouter(tags=["tasks and follow-ups"])


class Task(Record):
    id: uuid.UUID
    patient_id: str
    team_id: str
    kind: str
    owner_role: str
    owner: str | None
    due_at: datetime
    status: str
    alert_id: uuid.UUID | None
    reason: str
    attempts: int
    created_at: datetime
    created_by: str
    completed_at: datetime | None
    completed_by: str | None
    outcome: str | None
    overdue: bool = False
    risk_tier: str | None = None


class FollowUpRecord(Record):
    id: uuid.UUID
    task_id: uuid.UUID | None
    patient_id: str
    at: datetime
    recorded_by: str
    contact_type: str
    outcome: str
    symptoms: str
    medication_changes: str
    advice_given: str
    note: str
    visit_at: datetime | None
    visit_place: str | None
    next_contact_at: datetime | None


class RiskChange(Record):
    at: datetime
    tier: str
    previous_tier: str | None
    tags: list[str]


class CompleteTaskIn(BaseModel):
    outcome: TaskOutcome
    contact_type: ContactType = ContactType.PHONE
    symptoms: str = Field("", max_length=4000)
    medication_changes: str = Field("", max_length=4000)
    advice_given: str = Field("", max_length=4000)
    note: str = Field("", max_length=4000)
    visit_at: datetime | None = None
    visit_place: str | None = Field(None, max_length=200)
    next_contact_at: datetime | None = None


@router.get("/teams/{team_id}/tasks", response_model=list[Task])
async def team_tasks(
    request: Request,
    team_id: str,
    caller: Caller,
    pool: Pool,
    overdue: Annotated[bool, Query(description="only tasks past their due time")] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    within_days: Annotated[
        int, Query(ge=0, le=400, description="only tasks due within this many days")
    ] = 7,
) -> list[Task]:
    allow(caller, STAFF)
    check_team(caller, team_id)
    at = now(request)
    async with pool.connection() as conn, conn.transaction():
        rows = await task_store.team_tasks(conn, team_id, at, overdue, limit,
                                           at + timedelta(days=within_days))  # fmt: skip
        await audit.record(conn, caller, at, "list", "tasks",
                           sorted({r["patient_id"] for r in rows}))  # fmt: skip
    return [Task.model_validate(r) for r in rows]


@router.post("/tasks/{task_id}/complete", response_model=Task)
async def complete_task(
    request: Request, task_id: uuid.UUID, body: CompleteTaskIn, caller: Caller, pool: Pool
) -> Task:
    allow(caller, STAFF)
    response: PgResponse | None = request.app.state.response
    if response is None:
        raise UnavailableError("tasks are not served by this process")
    try:
        completion = Completion(**body.model_dump())
    except CompletionError as e:
        raise InvalidRequestError(str(e)) from e
    try:
        async with pool.connection() as conn, conn.transaction():
            row = await follow_up.complete(conn, response, task_id, completion, actor(caller),
                                           now(request))  # fmt: skip
    except follow_up.TaskNotFoundError as e:
        raise NotFoundError(str(e)) from e
    except follow_up.TaskRefusedError as e:
        raise ConflictError(str(e)) from e
    return Task.model_validate(row)


@router.get("/patients/{patient_id}/follow-ups", response_model=list[FollowUpRecord])
async def follow_ups(
    request: Request,
    patient_id: str,
    caller: Caller,
    pool: Pool,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[FollowUpRecord]:
    def read(conn: AsyncConnection[Any]) -> Awaitable[list[dict[str, Any]]]:
        return task_store.records(conn, patient_id, limit)

    rows = await _patient_rows(request, caller, pool, patient_id, "follow_ups", read)
    return [FollowUpRecord.model_validate(r) for r in rows]


@router.get("/patients/{patient_id}/risk-history", response_model=list[RiskChange])
async def risk_history(
    request: Request,
    patient_id: str,
    caller: Caller,
    pool: Pool,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[RiskChange]:
    def read(conn: AsyncConnection[Any]) -> Awaitable[list[dict[str, Any]]]:
        return risk_store.history(conn, patient_id, limit)

    rows = await _patient_rows(request, caller, pool, patient_id, "risk_history", read)
    return [RiskChange.model_validate(r) for r in rows]


async def _patient_rows(
    request: Request, caller: Principal, pool: AsyncConnectionPool, patient_id: str,
    resource: str, read: Callable[[AsyncConnection[Any]], Awaitable[list[dict[str, Any]]]],
) -> list[dict[str, Any]]:  # fmt: skip
    """One patient's rows for staff of the patient's team (else 404), the read audited."""
    allow(caller, STAFF)
    async with pool.connection() as conn, conn.transaction():
        await visible_patient(conn, caller, patient_id)
        rows = await read(conn)
        await audit.record(conn, caller, now(request), "read", resource, [patient_id])
    return rows
