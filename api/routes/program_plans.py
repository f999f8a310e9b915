"""Measurement plans, adherence and the patient's answers over REST (issue 11 parts 2-4).

Plans are versioned like medications: `PUT .../plan/items/{item_key}` closes the item in force
and adds the new version; `?at=` reads the plan of a past day. A template adds its items.
`GET .../adherence` computes expected vs received per item (7 and 30 local days), doses answered
"taken" per medication, and the CMS 99454 days of the current 30-day period. A patient (or the
patient's bound device) answers a scheduled reminder "taken" or "measured" by its message id.
Reads and changes are audited; another team's patient is "not found"."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request, Response
from pydantic import AwareDatetime

from api.access import PHI_READERS, STAFF, Caller, Pool, allow
from api.errors import InvalidRequestError, NotFoundError
from api.program_schemas import (
    AdherenceOut,
    AnswerIn,
    AnswerOut,
    PlanItemIn,
    PlanItemOut,
    TemplateOut,
)
from api.queries import audit
from api.routes._common import now, visible_patient
from api.routes.program_records import editable
from program import repository as repo
from program import scheduler_store
from program.adherence import Counts, per_medication
from program.plans import DEFAULT_GRACE_S, TEMPLATES, Frequency, PlanItem, PlanTemplate

router = APIRouter(tags=["program"])
ANSWERS = {"medication_reminder": "taken", "measure_reminder": "measured",
           "stopped_measuring": "measured"}  # fmt: skip


def item_out(i: PlanItem) -> PlanItemOut:
    return PlanItemOut(item_key=i.item_key, metrics=list(i.metrics), frequency=i.frequency.value,
                       local_times=[t.strftime("%H:%M") for t in i.local_times],
                       weekday=i.weekday, grace_s=i.grace_s, template=i.template,
                       valid_from=i.valid_from, valid_to=i.valid_to)  # fmt: skip


def template_out(t: PlanTemplate) -> TemplateOut:
    follow = t.follow_up
    return TemplateOut(name=t.name, source=t.source, items=[item_out(i) for i in t.items],
                       follow_up=None if follow is None else {
                           "first_every_days": follow.first_every_days,
                           "first_count": follow.first_count,
                           "then_every_days": follow.then_every_days},
                       codes=sorted(t.codes))  # fmt: skip


@router.get("/plan-templates", response_model=list[TemplateOut])
async def list_templates(caller: Caller) -> list[TemplateOut]:
    allow(caller, STAFF)
    return [template_out(t) for t in TEMPLATES.values()]


@router.get("/patients/{patient_id}/plan", response_model=list[PlanItemOut])
async def get_plan(
    request: Request,
    patient_id: str,
    caller: Caller,
    pool: Pool,
    at: AwareDatetime | None = None,
    history: bool = False,
) -> list[PlanItemOut]:
    """The plan in force now (or at `at`); with `history`, every version, oldest first."""
    allow(caller, PHI_READERS)
    async with pool.connection() as conn, conn.transaction():
        await visible_patient(conn, caller, patient_id)
        items = await repo.plan(conn, patient_id, at=None if history else (at or now(request)))
        await audit.record(conn, caller, now(request), "read", "plan", [patient_id])
    return [item_out(i) for i in items]


@router.put("/patients/{patient_id}/plan/items/{item_key}", response_model=list[PlanItemOut])
async def set_item(request: Request, patient_id: str, item_key: str, body: PlanItemIn,
                   caller: Caller, pool: Pool) -> list[PlanItemOut]:  # fmt: skip
    freq = Frequency(body.frequency)
    try:
        item = PlanItem(item_key, tuple(dict.fromkeys(body.metrics)), freq,
                        tuple(sorted(set(body.local_times))), body.weekday,
                        body.grace_s or DEFAULT_GRACE_S[freq], "custom")  # fmt: skip
    except ValueError as exc:
        raise InvalidRequestError(str(exc)) from None
    async with pool.connection() as conn, conn.transaction():
        await editable(conn, caller, patient_id)
        await repo.set_plan_item(conn, patient_id, item, caller.staff_id, now(request))
        await audit.record(conn, caller, now(request), "update", "plan_item", [patient_id],
                           {"item_key": item_key})  # fmt: skip
        items = await repo.plan(conn, patient_id, at=now(request))
    return [item_out(i) for i in items]


@router.delete("/patients/{patient_id}/plan/items/{item_key}", status_code=204)
async def end_item(request: Request, patient_id: str, item_key: str, caller: Caller,
                   pool: Pool) -> Response:  # fmt: skip
    async with pool.connection() as conn, conn.transaction():
        await editable(conn, caller, patient_id)
        if not await repo.end_plan_item(conn, patient_id, item_key, now(request)):
            raise NotFoundError(f"no current plan item {item_key}")
        await audit.record(conn, caller, now(request), "end", "plan_item", [patient_id],
                           {"item_key": item_key})  # fmt: skip
    return Response(status_code=204)


@router.post("/patients/{patient_id}/plan/templates/{name}", response_model=list[PlanItemOut])
async def apply_template(request: Request, patient_id: str, name: str, caller: Caller,
                         pool: Pool) -> list[PlanItemOut]:  # fmt: skip
    """Add the template's items to the plan (an item with the same key gets a new version)."""
    if name not in TEMPLATES:
        raise NotFoundError(f"no plan template {name}")
    async with pool.connection() as conn, conn.transaction():
        await editable(conn, caller, patient_id)
        await repo.apply_template(conn, patient_id, name, caller.staff_id, now(request))
        await audit.record(conn, caller, now(request), "update", "plan_template", [patient_id],
                           {"template": name})  # fmt: skip
        items = await repo.plan(conn, patient_id, at=now(request))
    return [item_out(i) for i in items]


def _counts(c: Counts) -> dict[str, Any]:
    return {"expected": c.expected, "received": c.received, "ratio": c.ratio}


@router.get("/patients/{patient_id}/adherence", response_model=AdherenceOut)
async def get_adherence(request: Request, patient_id: str, caller: Caller,
                        pool: Pool) -> AdherenceOut:  # fmt: skip
    allow(caller, PHI_READERS)
    at = now(request)
    async with pool.connection() as conn, conn.transaction():
        await visible_patient(conn, caller, patient_id)
        record = await repo.get_record(conn, patient_id, at)
        if record is None:
            raise NotFoundError(f"no patient {patient_id}")
        items, billing = await repo.adherence(conn, patient_id, record.tz, record.enrolled_on, at)
        since = at - timedelta(days=32)
        meds = [m for m in await repo.medications(conn, patient_id, None)
                if m.valid_to is None or m.valid_to > since]  # fmt: skip
        taken = await repo.taken_times(conn, patient_id, since)
        await audit.record(conn, caller, at, "read", "adherence", [patient_id])
    doses = per_medication(meds, taken, ZoneInfo(record.tz), at)
    return AdherenceOut.model_validate({
        "patient_id": patient_id, "tz": record.tz, "computed_at": at,
        "items": [{"item_key": i.item_key, "metrics": list(i.metrics),
                   "last_7d": _counts(i.last_7d), "last_30d": _counts(i.last_30d)} for i in items],
        "medications": [{"medication_key": k, "last_7d": _counts(a), "last_30d": _counts(b)}
                        for k, (a, b) in doses.items()],
        "billing": {"period_start": billing.period_start, "period_end": billing.period_end,
                    "days_with_data": billing.days_with_data, "days_left": billing.days_left,
                    "needed": billing.needed, "met": billing.met, "reachable": billing.reachable},
    })  # fmt: skip


@router.post("/me/answers", response_model=AnswerOut)
async def answer(request: Request, body: AnswerIn, caller: Caller, pool: Pool) -> AnswerOut:
    """The patient's "taken" / "measured" answer to a scheduled reminder (patient token, or the
    token of a device bound to the patient now). Answering twice changes nothing."""
    allow(caller, frozenset({"patient", "device"}))
    at = now(request)
    async with pool.connection() as conn, conn.transaction():
        pid = caller.patient_id if caller.role == "patient" else (
            await repo.bound_patient(conn, caller.device_id or "", at))  # fmt: skip
        message = None if pid is None else await scheduler_store.message_for_answer(
            conn, body.message_id, pid)  # fmt: skip
        if pid is None or message is None:
            raise NotFoundError(f"no reminder {body.message_id}")
        if ANSWERS.get(message["template"]) != body.answer:
            raise InvalidRequestError(f"a {message['template']} is not answered {body.answer!r}")
        via = "patient" if caller.role == "patient" else f"device:{caller.device_id}"
        recorded = await repo.record_answer(conn, pid, body.answer, message["ref_key"],
                                            message["slot_at"], at, via)  # fmt: skip
        await audit.record(conn, caller, at, "answer", "patient_answer", [pid],
                           {"kind": body.answer, "ref_key": message["ref_key"]})  # fmt: skip
    return AnswerOut(recorded=recorded, kind=body.answer, ref_key=message["ref_key"],
                     slot_at=message["slot_at"])  # fmt: skip


__all__ = ["router"]
