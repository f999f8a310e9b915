"""Enrolment into the program from a home kit: which conditions, medications and plan templates
a patient who measures with a given kind of device is usually followed for, and the planned
nurse follow-up calls. Used by `vigil enrol-demo` for the simulated cohort (DESIGN 11).

`KITS` is a table (CONVENTIONS 5): device kind -> condition (ICD-10), medication, plan
template. `enrol` writes the record, conditions, medications and plan through
program.repository, and the follow-up calls through program.task_store, once per patient
(an enrolled patient is left as is, so enrolment can run at every demo start).

Must not: decide adherence or risk, or commit (the caller owns the transaction).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from types import MappingProxyType
from typing import Any

from psycopg import AsyncConnection

from program import repository as repo
from program import task_store
from program.records import Condition, Medication
from program.tasks import CHRONIC, FOLLOW_UP, follow_up_dues


@dataclass(frozen=True, slots=True)
class Kit:
    condition: Condition
    medication: Medication
    template: str


KITS: Mapping[str, Kit] = MappingProxyType({
    "bp_cuff": Kit(Condition("icd10", "I10", "Essential (primary) hypertension"),
                   Medication("amlodipine", "Amlodipine", "5 mg", (time(8, 0),)),
                   "hypertension"),
    "glucometer": Kit(Condition("icd10", "E11.9", "Type 2 diabetes mellitus"),
                      Medication("metformin", "Metformin", "500 mg", (time(8, 0), time(19, 0))),
                      "type2_diabetes"),
    "cgm": Kit(Condition("icd10", "E10.9", "Type 1 diabetes mellitus"),
               Medication("insulin", "Insulin glargine", "14 units", (time(21, 0),)),
               "insulin_cgm"),
    "scale": Kit(Condition("icd10", "I50.9", "Heart failure"),
                 Medication("furosemide", "Furosemide", "40 mg", (time(8, 0),)),
                 "heart_failure"),
})  # fmt: skip


@dataclass(frozen=True, slots=True)
class Enrolment:
    patient_id: str
    kinds: Collection[str]  # device kinds of the patient's kit
    tz: str
    enrolled_days_ago: int
    discharged_days_ago: int | None  # after a hospital stay: weekly calls, post-discharge plan
    nurse: str | None


async def enrol(conn: AsyncConnection[Any], e: Enrolment, by: str, now: datetime) -> bool:
    """Enrol once; False when the patient already has conditions (enrolled before)."""
    if await repo.conditions(conn, e.patient_id, None):
        return False
    since = now - timedelta(days=e.enrolled_days_ago)
    discharged = None if e.discharged_days_ago is None else now - timedelta(e.discharged_days_ago)
    await repo.save_record(conn, e.patient_id, {
        "enrolled_on": since.date(), "discharged_on": discharged and discharged.date(),
        "responsible_nurse": e.nurse, "consent_at": since, "consent_scope": ["monitoring"],
    }, by, now)  # fmt: skip
    for kind in e.kinds:
        kit = KITS.get(kind)
        if kit is None:
            continue  # a wearable: no condition or plan of its own
        await repo.add_condition(conn, e.patient_id, kit.condition, by, since)
        await repo.set_medication(conn, e.patient_id, kit.medication, by, since)
        await repo.apply_template(conn, e.patient_id, kit.template, by, since)
    if discharged is not None:
        await repo.apply_template(conn, e.patient_id, "post_discharge", by, discharged)
    start, calls = (since, CHRONIC) if discharged is None else (discharged, FOLLOW_UP)
    dues = follow_up_dues(start.date(), e.tz, now, calls)
    await task_store.plan_calls(conn, e.patient_id, dues, now)
    return True
