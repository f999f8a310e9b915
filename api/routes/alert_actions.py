"""What staff do to alerts: acknowledge, assign, comment, escalate, snooze, resolve. Each builds
the action as data (alerts.actions) and hands it to `PgResponse.act`, which scopes it to the
caller's teams, writes the audit-log row and the alert event in the same transaction, and
answers the alert after the change.
"""

from __future__ import annotations

import uuid

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
from api.access import STAFF, Caller, actor, allow
from api.auth import Principal
from api.bodies import AcknowledgeIn, AssignIn, CommentIn, EscalateIn, ResolveIn, SnoozeIn
from api.errors import UnavailableError
from api.schemas import Alert

router = APIRouter(tags=["alert actions"])


async def _act(request: Request, caller: Principal, alert_id: uuid.UUID, action: Action) -> Alert:
    allow(caller, STAFF)
    response: PgResponse | None = request.app.state.response
    if response is None:
        raise UnavailableError("alert actions are not served by this process")
    view = await response.act(alert_id, action, actor(caller))  # audited in its transaction
    return Alert.model_validate(view)


@router.post("/alerts/{alert_id}/acknowledge", response_model=Alert)
async def acknowledge(
    request: Request, alert_id: uuid.UUID, body: AcknowledgeIn, caller: Caller
) -> Alert:
    return await _act(request, caller, alert_id, Acknowledge(body.note))


@router.post("/alerts/{alert_id}/assign", response_model=Alert)
async def assign(request: Request, alert_id: uuid.UUID, body: AssignIn, caller: Caller) -> Alert:
    return await _act(request, caller, alert_id, Assign(body.staff_id))


@router.post("/alerts/{alert_id}/comment", response_model=Alert)
async def comment(request: Request, alert_id: uuid.UUID, body: CommentIn, caller: Caller) -> Alert:
    return await _act(request, caller, alert_id, Comment(body.text))


@router.post("/alerts/{alert_id}/escalate", response_model=Alert)
async def escalate(
    request: Request, alert_id: uuid.UUID, body: EscalateIn, caller: Caller
) -> Alert:
    return await _act(request, caller, alert_id, Escalate(body.reason))


@router.post("/alerts/{alert_id}/snooze", response_model=Alert)
async def snooze(request: Request, alert_id: uuid.UUID, body: SnoozeIn, caller: Caller) -> Alert:
    return await _act(request, caller, alert_id, Snooze(body.until, body.reason))


@router.post("/alerts/{alert_id}/resolve", response_model=Alert)
async def resolve(request: Request, alert_id: uuid.UUID, body: ResolveIn, caller: Caller) -> Alert:
    action = Resolve(body.outcome, body.note, body.visit_at, body.visit_place)
    return await _act(request, caller, alert_id, action)
