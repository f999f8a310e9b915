"""On-call rosters of a care team: its staff read the roster and who is on call now per tier
(alerts.roster.on_call, the same answer the pager uses); its admins edit shifts, overrides and
backups. Every change is audited with the team."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request, Response
from psycopg import AsyncConnection

from api.access import ADMIN, Caller, Pool, allow, check_team
from api.auth import Principal
from api.bodies import BackupsIn, OverrideIn, ShiftIn
from api.errors import InvalidRequestError, NotFoundError
from api.queries import audit
from api.queries import rosters as q
from api.routes._common import now
from api.schemas import Roster, RosterOverride, Shift
from api.workspace.roster import team_roster

router = APIRouter(tags=["rosters"])

RowId = Annotated[int, Path(ge=1, le=2**62)]
_TABLES = {"shifts": "roster_shifts", "overrides": "roster_overrides"}


async def _check_members(conn: AsyncConnection[Any], team_id: str, ids: list[str]) -> None:
    missing = sorted(set(ids) - await q.members(conn, team_id, ids))
    if missing:
        raise InvalidRequestError(f"not on care team {team_id}: {missing}")


async def _audit(conn: AsyncConnection[Any], request: Request, caller: Principal, action: str,
                 team_id: str, **detail: Any) -> None:  # fmt: skip
    await audit.record(conn, caller, now(request), action, "roster", [None],
                       {"team_id": team_id, **detail})  # fmt: skip


@router.get("/teams/{team_id}/roster", response_model=Roster)
async def get_roster(request: Request, team_id: str, caller: Caller, pool: Pool) -> Roster:
    roster, _ = await team_roster(pool, caller, team_id, now(request))
    return roster


@router.post("/teams/{team_id}/roster/shifts", response_model=Shift, status_code=201)
async def add_shift(
    request: Request, team_id: str, body: ShiftIn, caller: Caller, pool: Pool
) -> Shift:
    allow(caller, ADMIN)
    check_team(caller, team_id)
    async with pool.connection() as conn, conn.transaction():
        await _check_members(conn, team_id, [body.staff_id])
        row = await q.add_shift(conn, team_id, body.model_dump())
        await _audit(conn, request, caller, "add_shift", team_id, shift_id=row["id"])
    return Shift.model_validate(row)


@router.post("/teams/{team_id}/roster/overrides", response_model=RosterOverride, status_code=201)
async def add_override(
    request: Request, team_id: str, body: OverrideIn, caller: Caller, pool: Pool
) -> RosterOverride:
    allow(caller, ADMIN)
    check_team(caller, team_id)
    if body.ends_at <= body.starts_at:
        raise InvalidRequestError("an override ends after it starts")
    async with pool.connection() as conn, conn.transaction():
        await _check_members(conn, team_id, [body.staff_id, *filter(None, [body.replaces])])
        row = await q.add_override(conn, team_id, body.model_dump(), caller.staff_id)
        await _audit(conn, request, caller, "add_override", team_id, override_id=row["id"])
    return RosterOverride.model_validate(row)


@router.delete("/teams/{team_id}/roster/{kind}/{row_id}", status_code=204,
               response_class=Response)  # fmt: skip
async def delete_entry(
    request: Request,
    team_id: str,
    kind: Literal["shifts", "overrides"],
    row_id: RowId,
    caller: Caller,
    pool: Pool,
) -> None:
    allow(caller, ADMIN)
    check_team(caller, team_id)
    async with pool.connection() as conn, conn.transaction():
        if not await q.delete(conn, _TABLES[kind], team_id, row_id):
            raise NotFoundError(f"no {kind[:-1]} {row_id} in care team {team_id}")
        await _audit(conn, request, caller, f"delete_{kind[:-1]}", team_id, id=row_id)


@router.put("/teams/{team_id}/roster/backups/{role}", response_model=dict[str, list[str]])
async def set_backups(
    request: Request,
    team_id: str,
    role: Literal["nurse", "doctor"],
    body: BackupsIn,
    caller: Caller,
    pool: Pool,
) -> dict[str, list[str]]:
    allow(caller, ADMIN)
    check_team(caller, team_id)
    staff_ids = list(dict.fromkeys(body.staff_ids))
    async with pool.connection() as conn, conn.transaction():
        await _check_members(conn, team_id, staff_ids)
        await q.set_backups(conn, team_id, role, staff_ids)
        await _audit(conn, request, caller, "set_backups", team_id, role=role)
        return await q.backups(conn, team_id)
