"""Response models of the REST API (pydantic, API schemas only): what each endpoint answers.

Request bodies are in api.bodies. Times are ISO 8601 with an offset; values in the metric's
canonical unit with the original kept.
"""

from __future__ import annotations

import uuid
from datetime import datetime, time
from typing import Any

from pydantic import BaseModel, ConfigDict


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


_ERRORS = {
    401: "no token, or an unknown or expired one",
    403: "the caller's role can never do this",
    404: "not found, or outside the caller's care teams",
    409: "refused in the current state",
    422: "the request is invalid",
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text} for status, text in _ERRORS.items()
}


class Record(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Team(Record):
    id: str
    name: str
    tz: str


class Patient(Record):
    id: str
    team_id: str
    display_name: str
    tz: str
    lang: str
    # the glucose unit a clinician set for the patient's messages; null: the patient's device's,
    # else their language's (alerts.glucose_units)
    glucose_unit: str | None = None
    responsible_doctor: str | None
    created_at: datetime
    # the care program's risk (program.risk), on lists only; null before the first pass
    risk_tier: str | None = None
    risk_tags: list[str] = []


class Device(Record):
    id: str
    kind: str
    expected_cadence_s: int | None
    created_at: datetime
    patient_id: str | None  # the binding in force now


class DeviceCredential(BaseModel):
    """A device's MQTT login, shown once: username and client id are the device id."""

    username: str
    client_id: str
    password: str

    @classmethod
    def of(cls, device_id: str, password: str) -> DeviceCredential:
        return cls(username=device_id, client_id=device_id, password=password)


class RegisteredDevice(Device):
    credential: DeviceCredential


class Binding(Record):
    device_id: str
    patient_id: str
    valid_from: datetime
    valid_to: datetime | None
    reason: str
    changed_by: str
    changed_at: datetime


class ThresholdOverride(Record):
    patient_id: str
    rule_id: str
    version: int
    params: dict[str, Any]
    reason: str
    changed_by: str
    changed_at: datetime


class Silence(Record):
    id: int
    patient_id: str
    rule_id: str | None
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str
    created_at: datetime


class Reading(Record):
    time: datetime
    metric: str
    value: float
    unit: str
    orig_value: float
    orig_unit: str
    device_id: str
    seq: int
    late: bool


class ReadingPage(BaseModel):
    items: list[Reading]
    next_cursor: str | None  # pass as `cursor` for the next (older) page


class TrendBucket(Record):
    metric: str
    bucket: datetime
    min: float
    max: float
    mean: float
    count: int


class Trends(BaseModel):
    patient_id: str
    bucket_s: int
    storage_mode: str
    buckets: list[TrendBucket]


class Alert(Record):
    id: uuid.UUID
    patient_id: str
    rule_id: str
    title: str
    severity: str
    status: str
    tier: int
    due: str | None
    deadline: datetime | None
    metric: str
    unit: str
    first_value: float
    last_value: float
    worst_value: float
    count: int
    opened_at: datetime
    last_seen_at: datetime
    assigned_to: str | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    resolved_by: str | None
    outcome: str | None
    snoozed_until: datetime | None
    snooze_reason: str | None


class AlertEvent(Record):
    seq: int
    event_id: uuid.UUID
    kind: str
    at: datetime
    actor: str
    tier: int
    payload: dict[str, Any]


class AlertDetail(Alert):
    events: list[AlertEvent]


class AlertPage(BaseModel):
    items: list[Alert]
    next_cursor: str | None


class Shift(Record):
    id: int
    staff_id: str
    role: str
    tz: str
    weekdays: list[int]
    start_time: time
    end_time: time


class RosterOverride(Record):
    id: int
    staff_id: str
    role: str
    starts_at: datetime
    ends_at: datetime
    replaces: str | None
    reason: str
    created_by: str


class OnCallTier(BaseModel):
    tier: int
    role: str
    primary: list[str]
    backup: list[str]


class Roster(BaseModel):
    team_id: str
    at: datetime
    shifts: list[Shift]
    overrides: list[RosterOverride]  # those not yet ended
    backups: dict[str, list[str]]  # role -> staff ids in order
    on_call: list[OnCallTier]


class AuditEntry(Record):
    id: int
    at: datetime
    actor: str
    role: str
    action: str
    resource: str
    patient_id: str | None
    detail: dict[str, Any]
