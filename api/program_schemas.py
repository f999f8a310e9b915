"""Request and response bodies of the care program's REST resources (issue 11 parts 1-4):
records, conditions, medications, plans, adherence and the patient's answers. Pydantic, API
schemas only; the domain values are program.records / program.plans / program.adherence."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, Field, model_validator

from api.bodies import Body, ClockTime, Id, Name, Text

Key = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]
Metric = Literal["systolic_bp", "diastolic_bp", "heart_rate", "respiratory_rate", "spo2",
                 "glucose", "weight", "body_temperature"]  # fmt: skip
Phone = Annotated[str, Field(pattern=r"^\+?[0-9 ()-]{3,32}$")]
ConsentScope = Literal["monitoring", "messages", "data_sharing", "research"]


class RecordPatch(Body):
    birth_date: date | None = None
    sex: Literal["female", "male", "other", "unknown"] | None = None
    phone: Phone | None = None
    responsible_nurse: Id | None = None
    enrolled_on: date | None = None
    discharged_on: date | None = None
    consent_at: AwareDatetime | None = None
    consent_scope: list[ConsentScope] | None = Field(None, max_length=4)
    reminders_opt_out: bool | None = None
    quiet_start: ClockTime | None = None
    quiet_end: ClockTime | None = None


class ConditionIn(Body):
    system: Literal["icd10", "snomed"]
    code: Annotated[str, Field(min_length=1, max_length=32)]
    display: Name


class ConditionOut(BaseModel):
    system: str
    code: str
    display: str
    valid_from: datetime | None
    valid_to: datetime | None


class MedicationIn(Body):
    name: Name
    dose: Annotated[str, Field(min_length=1, max_length=100)]
    times: list[ClockTime] = Field(default_factory=list, max_length=12)
    reason: Text = ""


class MedicationOut(BaseModel):
    medication_key: str
    name: str
    dose: str
    times: list[str]
    valid_from: datetime | None
    valid_to: datetime | None


class RecordOut(BaseModel):
    patient_id: str
    tz: str
    lang: str
    birth_date: date | None
    sex: str | None
    phone: str | None
    responsible_doctor: str | None
    responsible_nurse: str | None
    enrolled_on: date | None
    discharged_on: date | None
    consent_at: datetime | None
    consent_scope: list[str]
    reminders_opt_out: bool
    quiet_start: str
    quiet_end: str
    conditions: list[ConditionOut]
    medications: list[MedicationOut]


class PlanItemIn(Body):
    metrics: list[Metric] = Field(min_length=1, max_length=4)
    frequency: Literal["times_per_day", "daily", "weekly", "continuous"]
    local_times: list[ClockTime] = Field(default_factory=list, max_length=12)
    weekday: Annotated[int, Field(ge=0, le=6)] | None = None
    grace_s: Annotated[int, Field(gt=0, le=60 * 86400)] | None = None

    @model_validator(mode="after")
    def _times(self) -> PlanItemIn:
        if self.frequency == "times_per_day" and not self.local_times:
            raise ValueError("times_per_day needs local_times")
        return self


class PlanItemOut(BaseModel):
    item_key: str
    metrics: list[str]
    frequency: str
    local_times: list[str]
    weekday: int | None
    grace_s: int
    template: str
    valid_from: datetime | None
    valid_to: datetime | None


class TemplateOut(BaseModel):
    name: str
    source: str
    items: list[PlanItemOut]
    follow_up: dict[str, int] | None
    codes: list[str]


class CountsOut(BaseModel):
    expected: int
    received: int
    ratio: float | None


class ItemAdherenceOut(BaseModel):
    item_key: str
    metrics: list[str]
    last_7d: CountsOut
    last_30d: CountsOut


class MedicationAdherenceOut(BaseModel):
    medication_key: str
    last_7d: CountsOut
    last_30d: CountsOut


class BillingOut(BaseModel):
    period_start: date
    period_end: date
    days_with_data: int
    days_left: int
    needed: int
    met: bool
    reachable: bool


class AdherenceOut(BaseModel):
    patient_id: str
    tz: str
    computed_at: datetime
    items: list[ItemAdherenceOut]
    medications: list[MedicationAdherenceOut]
    billing: BillingOut


class AnswerIn(Body):
    message_id: uuid.UUID
    answer: Literal["taken", "measured"]


class AnswerOut(BaseModel):
    recorded: bool  # False: this reminder was already answered
    kind: str
    ref_key: str
    slot_at: datetime
