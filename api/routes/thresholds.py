"""Per-patient threshold overrides: staff read every version; admins add a new version.

An override is checked against the rule table (stream.rules.DEFAULT_RULES) with the stream's
own validator (stream.overrides.apply) before it is stored: an override the stream could not
apply would otherwise stop it at load time.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from api.access import ADMIN, STAFF, Caller, Pool, allow
from api.bodies import ThresholdIn
from api.errors import InvalidRequestError
from api.queries import audit
from api.queries import thresholds as q
from api.routes._common import now, visible_patient
from api.schemas import ThresholdOverride
from stream.overrides import OverrideError, apply
from stream.rules import DEFAULT_RULES

router = APIRouter(tags=["thresholds"])

_RULES = {rule.id: rule for rule in DEFAULT_RULES.thresholds}


def check_override(rule_id: str, params: dict[str, Any]) -> None:
    rule = _RULES.get(rule_id)
    if rule is None:
        raise InvalidRequestError(f"no threshold rule {rule_id!r}; known: {sorted(_RULES)}")
    if not params:
        raise InvalidRequestError("an override changes at least one parameter")
    try:
        apply(rule, params)
    except (OverrideError, TypeError, ValueError) as exc:
        raise InvalidRequestError(str(exc)) from None


@router.get("/patients/{patient_id}/thresholds", response_model=list[ThresholdOverride])
async def list_thresholds(
    request: Request, patient_id: str, caller: Caller, pool: Pool
) -> list[ThresholdOverride]:
    allow(caller, STAFF)
    async with pool.connection() as conn, conn.transaction():
        await visible_patient(conn, caller, patient_id)
        rows = await q.versions(conn, patient_id)
        await audit.record(conn, caller, now(request), "read", "thresholds", [patient_id])
    return [ThresholdOverride.model_validate(r) for r in rows]


@router.post("/patients/{patient_id}/thresholds", response_model=ThresholdOverride, status_code=201)
async def add_threshold(
    request: Request, patient_id: str, body: ThresholdIn, caller: Caller, pool: Pool
) -> ThresholdOverride:
    allow(caller, ADMIN)
    params = body.params.changes()
    async with pool.connection() as conn, conn.transaction():
        await visible_patient(conn, caller, patient_id)
        check_override(body.rule_id, params)
        row = await q.add_version(conn, patient_id, body.rule_id, params, body.reason,
                                  caller.staff_id)  # fmt: skip
        await audit.record(conn, caller, now(request), "override", "thresholds", [patient_id],
                           {"rule_id": body.rule_id, "version": row["version"]})  # fmt: skip
    return ThresholdOverride.model_validate(row)
