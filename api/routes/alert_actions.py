"""What staff do to alerts: acknowledge, assign, comment, escalate, snooze, resolve. Each builds
the action as data (alerts.actions) and hands it to `PgResponse.act`, which scopes it to the
caller's teams and answers the alert after the change; the action is then audited.

The audit row is written right after the action's own transaction commits (`act` owns that
transaction); the action's alert event is the primary record of who did what.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request

from alerts.actions import (
    Acknowledge,
    Action,
    Assign,
    Comment,
    Escalate,
    Resolve,
    Snooze,
)
from alerts.response import PgResponse
from api.access import STAFF, Caller, Pool, actor, allow
from api.auth import Principal
from api.bodies import AcknowledgeIn, AssignIn, CommentIn, EscalateIn, ResolveIn, SnoozeIn
from api.errors import UnavailableError
from api.queries import audit
from api.routes._common import now
from api.schemas import Alert

router = APIRouter(tags=["alert actions"])


async def _act(
    request: Request, pool: Any, caller: Principal, alert_id: uuid.UUID, name: str, action: Action
) -> Alert:
    allow(caller, STAFF)
    response: PgResponse | None = request.app.state.response
    if response is None:
        raise UnavailableError("alert actions are not served by this process")
    view = await response.act(alert_id, action, actor(caller))
    async with pool.connection() as conn, conn.transaction():
        await audit.record(conn, caller, now(request), name, "alert", [view["patient_id"]],
                           {"alert_id": str(alert_id)})  # fmt: skip
    return Alert.model_validate(view)


@router.post("/alerts/{alert_id}/acknowledge", response_model=Alert)
async def acknowledge(
    request: Request, alert_id: uuid.UUID, body: AcknowledgeIn, caller: Caller, pool: Pool
) -> Alert:
    return await _act(request, pool, caller, alert_id, "acknowledge", Acknowledge(body.note))


@router.post("/alerts/{alert_id}/assign", response_model=Alert)
async def assign(
    request: Request, alert_id: uuid.UUID, body: AssignIn, caller: Caller, pool: Pool
) -> Alert:
    return await _act(request, pool, caller, alert_id, "assign", Assign(body.staff_id))


@router.post("/alerts/{alert_id}/comment", response_model=Alert)
async def comment(
    request: Request, alert_id: uuid.UUID, body: CommentIn, caller: Caller, pool: Pool
) -> Alert:
    return await _act(request, pool, caller, alert_id, "comment", Comment(body.text))


@router.post("/alerts/{alert_id}/escalate", response_model=Alert)
async def escalate(
    request: Request, alert_id: uuid.UUID, body: EscalateIn, caller: Caller, pool: Pool
) -> Alert:
    return await _act(request, pool, caller, alert_id, "escalate", Escalate(body.reason))


@router.post("/alerts/{alert_id}/snooze", response_model=Alert)
async def snooze(
    request: Request, alert_id: uuid.UUID, body: SnoozeIn, caller: Caller, pool: Pool
) -> Alert:
    return await _act(request, pool, caller, alert_id, "snooze", Snooze(body.until, body.reason))


@router.post("/alerts/{alert_id}/resolve", response_model=Alert)
async def resolve(
    request: Request, alert_id: uuid.UUID, body: ResolveIn, caller: Caller, pool: Pool
) -> Alert:
    return await _act(request, pool, caller, alert_id, "resolve", Resolve(body.outcome, body.note))
