"""The audit log, for admins: entries about their teams' patients and their teams' rosters."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from api.access import ADMIN, Caller, Pool, allow
from api.queries import audit as q
from api.schemas import AuditEntry

router = APIRouter(tags=["audit"])


@router.get("/audit", response_model=list[AuditEntry])
async def list_audit(
    caller: Caller,
    pool: Pool,
    patient_id: str | None = None,
    actor: str | None = None,
    since: AwareDatetime | None = None,
    before_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditEntry]:
    allow(caller, ADMIN)
    async with pool.connection() as conn:
        rows = await q.entries(conn, caller.team_ids, patient_id=patient_id, actor=actor,
                               since=since, before_id=before_id, limit=limit)  # fmt: skip
    return [AuditEntry.model_validate(r) for r in rows]
