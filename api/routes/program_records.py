"""The patient record over REST (issue 11 part 1): staff of the patient's team read it, the
patient reads their own; admins and the patient's responsible doctor or nurse edit it.
Conditions and medications are versioned: `?at=` answers "what was it on that day", and a
change closes the version in force. Every read and every change is audited. Another team's
patient is "not found" (DESIGN 6)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from psycopg.errors import CheckViolation
from pydantic import AwareDatetime

from api.access import PHI_READERS, STAFF, Caller, Pool, allow
from api.auth import Principal
from api.errors import ConflictError, ForbiddenError, InvalidRequestError, NotFoundError
from api.program_schemas import ConditionIn, MedicationIn, RecordOut, RecordPatch
from api.queries import audit
from api.queries import patients as pq
from api.routes._common import now, visible_patient
from program import repository as repo
from program.records import Condition, Medication, Record, medication_key

router = APIRouter(tags=["program"])


def record_out(r: Record) -> RecordOut:
    def hm(t: Any) -> str:
        return str(t.strftime("%H:%M"))

    return RecordOut(
        patient_id=r.patient_id, tz=r.tz, lang=r.lang, birth_date=r.birth_date, sex=r.sex,
        phone=r.phone, responsible_doctor=r.responsible_doctor,
        responsible_nurse=r.responsible_nurse, enrolled_on=r.enrolled_on,
        discharged_on=r.discharged_on, consent_at=r.consent_at,
        consent_scope=list(r.consent_scope), reminders_opt_out=r.reminders_opt_out,
        quiet_start=hm(r.quiet_start), quiet_end=hm(r.quiet_end),
        conditions=[{"system": c.system, "code": c.code, "display": c.display,
                     "valid_from": c.valid_from, "valid_to": c.valid_to} for c in r.conditions],
        medications=[medication_out(m) for m in r.medications],
    )  # fmt: skip


def medication_out(m: Medication) -> dict[str, Any]:
    return {"medication_key": m.medication_key, "name": m.name, "dose": m.dose,
            "times": [t.strftime("%H:%M") for t in m.times], "valid_from": m.valid_from,
            "valid_to": m.valid_to}  # fmt: skip


async def editable(conn: Any, caller: Principal, patient_id: str) -> str:
    """The patient's team if the caller may edit the record: an admin of the team, or the
    patient's responsible doctor or nurse. Another team's patient: NotFoundError."""
    allow(caller, STAFF)
    team = await visible_patient(conn, caller, patient_id)
    if caller.role != "admin" and caller.staff_id not in await repo.responsible(conn, patient_id):
        raise ForbiddenError("only an admin or the patient's responsible clinicians edit it")
    return team


async def _read(request: Request, caller: Principal, pool: Any, patient_id: str,
                at: datetime | None) -> RecordOut:  # fmt: skip
    allow(caller, PHI_READERS)
    async with pool.connection() as conn, conn.transaction():
        await visible_patient(conn, caller, patient_id)
        record = await repo.get_record(conn, patient_id, at or now(request))
        await audit.record(conn, caller, now(request), "read", "patient_record", [patient_id],
                           {"at": at.isoformat()} if at else None)  # fmt: skip
    if record is None:
        raise NotFoundError(f"no patient {patient_id}")
    return record_out(record)


@router.get("/patients/{patient_id}/record", response_model=RecordOut)
async def get_record(request: Request, patient_id: str, caller: Caller, pool: Pool,
                     at: AwareDatetime | None = None) -> RecordOut:  # fmt: skip
    """The record, with the conditions and medications in force now (or at `at`)."""
    return await _read(request, caller, pool, patient_id, at)


@router.patch("/patients/{patient_id}/record", response_model=RecordOut)
async def update_record(request: Request, patient_id: str, body: RecordPatch, caller: Caller,
                        pool: Pool) -> RecordOut:  # fmt: skip
    changes = body.model_dump(exclude_unset=True)
    async with pool.connection() as conn, conn.transaction():
        team = await editable(conn, caller, patient_id)
        nurse = changes.get("responsible_nurse")
        if nurse is not None and not await pq.is_team_member(conn, nurse, team, "nurse"):
            raise InvalidRequestError(f"{nurse!r} is not a nurse of care team {team}")
        try:
            await repo.save_record(conn, patient_id, changes, caller.staff_id, now(request))
        except CheckViolation:  # e.g. discharged before enrolled, with the stored other date
            raise InvalidRequestError("the record's dates or fields are inconsistent") from None
        await audit.record(conn, caller, now(request), "update", "patient_record", [patient_id],
                           {"fields": sorted(changes)})  # fmt: skip
    return await _read(request, caller, pool, patient_id, None)


@router.post("/patients/{patient_id}/conditions", status_code=201, response_model=RecordOut)
async def add_condition(request: Request, patient_id: str, body: ConditionIn, caller: Caller,
                        pool: Pool) -> RecordOut:  # fmt: skip
    try:
        condition = Condition(body.system, body.code, body.display)
    except ValueError as exc:
        raise InvalidRequestError(str(exc)) from None
    async with pool.connection() as conn, conn.transaction():
        await editable(conn, caller, patient_id)
        if not await repo.add_condition(conn, patient_id, condition, caller.staff_id, now(request)):
            raise ConflictError(f"{body.system} {body.code} is already recorded")
        await audit.record(conn, caller, now(request), "create", "patient_condition",
                           [patient_id], {"system": body.system, "code": body.code})  # fmt: skip
    return await _read(request, caller, pool, patient_id, None)


@router.delete("/patients/{patient_id}/conditions/{system}/{code}", status_code=204)
async def end_condition(request: Request, patient_id: str, system: str, code: str,
                        caller: Caller, pool: Pool) -> Response:  # fmt: skip
    async with pool.connection() as conn, conn.transaction():
        await editable(conn, caller, patient_id)
        if not await repo.end_condition(conn, patient_id, system, code, now(request)):
            raise NotFoundError(f"no current condition {system} {code}")
        await audit.record(conn, caller, now(request), "end", "patient_condition", [patient_id],
                           {"system": system, "code": code})  # fmt: skip
    return Response(status_code=204)


async def _set_medication(request: Request, patient_id: str, key: str | None, body: MedicationIn,
                          caller: Principal, pool: Any) -> RecordOut:  # fmt: skip
    async with pool.connection() as conn, conn.transaction():
        await editable(conn, caller, patient_id)
        current = await repo.medications(conn, patient_id, now(request))
        keys = [m.medication_key for m in current]
        if key is not None and key not in keys:
            raise NotFoundError(f"no current medication {key}")
        try:
            med = Medication(key or medication_key(body.name, keys), body.name, body.dose,
                             tuple(sorted(set(body.times))))  # fmt: skip
        except ValueError as exc:
            raise InvalidRequestError(str(exc)) from None
        await repo.set_medication(conn, patient_id, med, caller.staff_id, now(request),
                                  body.reason)  # fmt: skip
        await audit.record(conn, caller, now(request), "create" if key is None else "update",
                           "patient_medication", [patient_id],
                           {"medication_key": med.medication_key})  # fmt: skip
    return await _read(request, caller, pool, patient_id, None)


@router.post("/patients/{patient_id}/medications", status_code=201, response_model=RecordOut)
async def add_medication(request: Request, patient_id: str, body: MedicationIn, caller: Caller,
                         pool: Pool) -> RecordOut:  # fmt: skip
    return await _set_medication(request, patient_id, None, body, caller, pool)


@router.put("/patients/{patient_id}/medications/{medication_key}", response_model=RecordOut)
async def change_medication(
    request: Request,
    patient_id: str,
    medication_key: str,
    body: MedicationIn,
    caller: Caller,
    pool: Pool,
) -> RecordOut:
    """A new version of the medication (dose, schedule); the one in force is closed now."""
    return await _set_medication(request, patient_id, medication_key, body, caller, pool)


@router.delete("/patients/{patient_id}/medications/{medication_key}", status_code=204)
async def stop_medication(request: Request, patient_id: str, medication_key: str,
                          caller: Caller, pool: Pool) -> Response:  # fmt: skip
    async with pool.connection() as conn, conn.transaction():
        await editable(conn, caller, patient_id)
        if not await repo.end_medication(conn, patient_id, medication_key, now(request)):
            raise NotFoundError(f"no current medication {medication_key}")
        await audit.record(conn, caller, now(request), "end", "patient_medication", [patient_id],
                           {"medication_key": medication_key})  # fmt: skip
    return Response(status_code=204)


@router.get("/patients/{patient_id}/medications/history")
async def medication_history(request: Request, patient_id: str, caller: Caller,
                             pool: Pool) -> list[dict[str, Any]]:  # fmt: skip
    """Every version of every medication, oldest first."""
    allow(caller, PHI_READERS)
    async with pool.connection() as conn, conn.transaction():
        await visible_patient(conn, caller, patient_id)
        versions = await repo.medications(conn, patient_id, None)
        await audit.record(conn, caller, now(request), "read", "patient_medications",
                           [patient_id])  # fmt: skip
    return [medication_out(m) for m in versions]
