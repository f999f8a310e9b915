"""Silences of a patient's alerts: staff of the patient's team list them and add one (a rule or
all rules, a reason, an end). The escalation machine never applies one to a value dangerous on
its own (alerts.escalation.start), so a silence cannot hide a dangerous reading.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from alerts.silences import add_silence, list_silences
from api.access import STAFF, Caller, Pool, allow
from api.bodies import SilenceIn
from api.errors import InvalidRequestError
from api.queries import audit
from api.routes._common import now, visible_patient
from api.schemas import Silence

router = APIRouter(tags=["silences"])


@router.get("/patients/{patient_id}/silences", response_model=list[Silence])
async def silences(request: Request, patient_id: str, caller: Caller, pool: Pool) -> list[Silence]:
    """The patient's silences in force now or still to come."""
    allow(caller, STAFF)
    async with pool.connection() as conn, conn.transaction():
        await visible_patient(conn, caller, patient_id)
        rows = await list_silences(conn, patient_id, now(request))
        await audit.record(conn, caller, now(request), "read", "silences", [patient_id])
    return [Silence.model_validate(r) for r in rows]


@router.post("/patients/{patient_id}/silences", response_model=Silence, status_code=201)
async def silence(
    request: Request, patient_id: str, body: SilenceIn, caller: Caller, pool: Pool
) -> Silence:
    allow(caller, STAFF)
    starts = body.starts_at or now(request)
    if body.ends_at <= max(starts, now(request)):
        raise InvalidRequestError("a silence ends after it starts, and in the future")
    async with pool.connection() as conn, conn.transaction():
        await visible_patient(conn, caller, patient_id)
        row = await add_silence(conn, patient_id, body.rule_id, starts, body.ends_at,
                                body.reason, caller.staff_id)  # fmt: skip
        detail = {"rule_id": body.rule_id, "ends_at": body.ends_at.isoformat()}
        await audit.record(conn, caller, now(request), "silence", "silences", [patient_id], detail)
    return Silence.model_validate(row)
