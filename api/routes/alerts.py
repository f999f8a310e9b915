"""Reading alerts: staff see their teams' alerts with their events; a patient sees their own
alerts (without the clinicians' events). Every read is audited, one row per patient concerned.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime

from alerts.actions import AlertNotFoundError
from api import cursors
from api.access import PHI_READERS, Caller, Pool, allow, sees_patient
from api.auth import Principal
from api.queries import alerts as q
from api.queries import audit
from api.routes._common import now
from api.schemas import Alert, AlertDetail, AlertEvent, AlertPage

router = APIRouter(tags=["alerts"])

_CURSOR = (datetime, uuid.UUID)


def _scope(caller: Principal) -> dict[str, object]:
    if caller.role == "patient":
        return {"team_ids": None, "own_patient": caller.patient_id}
    return {"team_ids": sorted(caller.team_ids), "own_patient": None}


@router.get("/alerts", response_model=AlertPage)
async def list_alerts(
    request: Request,
    caller: Caller,
    pool: Pool,
    status: Literal["open", "acknowledged", "resolved"] | None = None,
    severity: Literal["info", "moderate", "high", "critical"] | None = None,
    tier: Annotated[int | None, Query(ge=1, le=3)] = None,
    patient_id: str | None = None,
    since: AwareDatetime | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AlertPage:
    allow(caller, PHI_READERS)
    after = cursors.decode(cursor, _CURSOR) if cursor is not None else None
    f = q.AlertFilter(status=status, severity=severity, tier=tier, patient_id=patient_id,
                      since=since, after=after, **_scope(caller))  # type: ignore[arg-type]  # fmt: skip
    async with pool.connection() as conn, conn.transaction():
        rows = await q.page(conn, f, limit + 1)
        await audit.record(conn, caller, now(request), "list", "alerts",
                           (r["patient_id"] for r in rows[:limit]))  # fmt: skip
    items = [Alert.model_validate(r) for r in rows[:limit]]
    last = items[-1] if len(rows) > limit else None
    next_cursor = cursors.encode(last.opened_at, last.id) if last else None
    return AlertPage(items=items, next_cursor=next_cursor)


@router.get("/alerts/{alert_id}", response_model=AlertDetail)
async def get_alert(
    request: Request, alert_id: uuid.UUID, caller: Caller, pool: Pool
) -> AlertDetail:
    allow(caller, PHI_READERS)
    async with pool.connection() as conn, conn.transaction():
        row = await q.get(conn, alert_id)
        if row is None or not sees_patient(caller, row["patient_id"], row["team_id"]):
            raise AlertNotFoundError(f"no alert {alert_id}")
        staff = caller.role != "patient"  # events carry clinicians' notes and names
        events = await q.events(conn, alert_id) if staff else []
        await audit.record(conn, caller, now(request), "read", "alert", [row["patient_id"]],
                           {"alert_id": str(alert_id), "events": len(events)})  # fmt: skip
    return AlertDetail(**Alert.model_validate(row).model_dump(),
                       events=[AlertEvent.model_validate(e) for e in events])  # fmt: skip
