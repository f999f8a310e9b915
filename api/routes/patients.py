"""Patients: staff list their teams' patients; a patient reads their own record; admins enrol
and edit patients of their teams. Every read of a record is audited."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from api.access import ADMIN, PHI_READERS, STAFF, Caller, Pool, allow, check_team
from api.bodies import PatientIn, PatientPatch
from api.errors import ConflictError, InvalidRequestError, NotFoundError
from api.queries import audit
from api.queries import patients as q
from api.routes._common import check_doctor, now, visible_patient
from api.schemas import Patient, Team

router = APIRouter(tags=["patients"])
_NULLABLE = ("responsible_doctor", "glucose_unit")  # a PATCH with null clears these


@router.get("/teams", response_model=list[Team])
async def list_teams(caller: Caller, pool: Pool) -> list[Team]:
    allow(caller, STAFF)
    async with pool.connection() as conn:
        rows = await q.teams(conn, sorted(caller.team_ids))
    return [Team.model_validate(r) for r in rows]


@router.get("/patients", response_model=list[Patient])
async def list_patients(
    request: Request,
    caller: Caller,
    pool: Pool,
    team_id: str | None = None,
    after: Annotated[str | None, Query(description="the last id of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    tier: Annotated[Literal["high", "medium", "low"] | None, Query()] = None,
    tag: Annotated[str | None, Query(max_length=64, description="a risk tag")] = None,
    sort: Annotated[Literal["id", "risk"], Query(description="risk: high tier first")] = "id",
) -> list[Patient]:
    allow(caller, STAFF)
    if sort == "risk" and after is not None:
        raise InvalidRequestError("`after` pages the list sorted by id only")
    if team_id is not None:
        check_team(caller, team_id)
    teams = [team_id] if team_id is not None else sorted(caller.team_ids)
    async with pool.connection() as conn, conn.transaction():
        rows = await q.in_teams(conn, teams, after, limit, tier, tag, sort)
        await audit.record(conn, caller, now(request), "list", "patients",
                           (r["id"] for r in rows))  # fmt: skip
    return [Patient.model_validate(r) for r in rows]


@router.get("/patients/{patient_id}", response_model=Patient)
async def get_patient(request: Request, patient_id: str, caller: Caller, pool: Pool) -> Patient:
    allow(caller, PHI_READERS)
    async with pool.connection() as conn, conn.transaction():
        await visible_patient(conn, caller, patient_id)
        row = await q.get(conn, patient_id)
        await audit.record(conn, caller, now(request), "read", "patient", [patient_id])
    if row is None:
        raise NotFoundError(f"no patient {patient_id}")
    return Patient.model_validate(row)


@router.post("/patients", response_model=Patient, status_code=201)
async def create_patient(request: Request, body: PatientIn, caller: Caller, pool: Pool) -> Patient:
    allow(caller, ADMIN)
    check_team(caller, body.team_id)
    async with pool.connection() as conn, conn.transaction():
        await check_doctor(conn, body.responsible_doctor, body.team_id)
        row = await q.create(conn, body.model_dump())
        if row is None:
            raise ConflictError(f"patient {body.id} exists")
        await audit.record(conn, caller, now(request), "create", "patient", [body.id])
    return Patient.model_validate(row)


@router.patch("/patients/{patient_id}", response_model=Patient)
async def update_patient(
    request: Request, patient_id: str, body: PatientPatch, caller: Caller, pool: Pool
) -> Patient:
    allow(caller, ADMIN)
    changes = body.model_dump(exclude_unset=True)
    async with pool.connection() as conn, conn.transaction():
        team = await visible_patient(conn, caller, patient_id)
        new_team = changes.get("team_id") or team
        check_team(caller, new_team)
        if "responsible_doctor" in changes or new_team != team:
            current = await q.get(conn, patient_id)
            doctor = changes.get("responsible_doctor", current and current["responsible_doctor"])
            await check_doctor(conn, doctor, new_team)
        row = await q.update(
            conn,
            patient_id,
            {k: v for k, v in changes.items() if v is not None or k in _NULLABLE},
        )
        await audit.record(conn, caller, now(request), "update", "patient", [patient_id],
                           {"fields": sorted(changes)})  # fmt: skip
    if row is None:
        raise NotFoundError(f"no patient {patient_id}")
    return Patient.model_validate(row)
