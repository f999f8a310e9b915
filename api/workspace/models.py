"""What the workspace's data endpoints answer (pydantic, API schemas only).

Times are ISO 8601 with an offset; chart times are epoch seconds (what a time-series chart takes).
Values are in the metric's canonical unit, named beside them.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict

from api.schemas import Silence


class Record(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class WorklistRow(Record):
    id: uuid.UUID
    patient_id: str
    patient_name: str
    patient_tz: str
    team_id: str
    rule_id: str  # also the key of the alert's title in the workspace's catalogs
    title: str  # the rule table's English title
    severity: str
    status: str  # open or acknowledged
    tier: int
    due: str | None  # what the deadline is for: remeasure, ack, resolution
    deadline: datetime | None
    dangerous: bool
    metric: str
    unit: str
    first_value: float
    last_value: float
    worst_value: float
    count: int
    opened_at: datetime
    last_seen_at: datetime
    assigned_to: str | None
    assignee_name: str | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    snoozed_until: datetime | None


class Worklist(BaseModel):
    seq: int  # the live feed's seq at this snapshot: resume the websocket after it
    at: datetime  # server time of the snapshot (for countdowns)
    tiers: list[int]  # the tiers the caller's role watches (filters narrow within them)
    items: list[WorklistRow]
    truncated: bool  # more open alerts than `limit`


class LatestValue(BaseModel):
    value: float
    unit: str
    at: datetime


class CaseloadRow(Record):
    id: str
    display_name: str
    team_id: str
    tz: str
    responsible_doctor: str | None
    last_reading_at: datetime | None
    latest: dict[str, LatestValue]  # metric -> its latest reading
    open_alerts: int
    worst_open_severity: str | None
    risk_tier: str | None  # the care program's tier (program.risk); null until first computed
    risk_tags: list[str]  # why: the risk rules that put the patient at that tier


class Caseload(BaseModel):
    total: int
    offset: int
    items: list[CaseloadRow]


class ChartSeries(BaseModel):
    key: str  # the metric, or for glucose "cgm" (a trace) / "meter" (points)
    metric: str
    unit: str
    t: list[float]  # epoch seconds, ascending
    v: list[float]
    downsampled: bool  # readings were left out (each bucket keeps its minimum and maximum)


class ChartThreshold(BaseModel):
    rule_id: str
    title: str
    metric: str
    comparison: str
    value: float
    clear_value: float | None
    severity: str
    dangerous: bool
    device_kinds: list[str]
    version: str  # "default" or the patient's override "v<n>"
    source: str


class ChartTarget(BaseModel):
    metric: str
    low: float | None
    high: float | None
    source: str


class Chart(BaseModel):
    patient_id: str
    chart: str  # blood_pressure, glucose, weight, spo2, heart_rate, ...
    since: datetime
    until: datetime
    bucket_s: int
    max_points: int  # per series
    storage_mode: str
    series: list[ChartSeries]
    thresholds: list[ChartThreshold]
    targets: list[ChartTarget]
    alert_id: uuid.UUID | None = None  # when centred on an alert


class PatientHeader(Record):
    id: str
    display_name: str
    tz: str
    lang: str
    created_at: datetime
    team_id: str
    team_name: str
    team_tz: str
    responsible_doctor: str | None
    responsible_doctor_name: str | None
    birth_date: date | None = None  # not recorded yet (the care-program record will hold it)


class AlertHistoryRow(Record):
    id: uuid.UUID
    rule_id: str
    title: str
    severity: str
    status: str
    tier: int
    metric: str
    unit: str
    first_value: float
    worst_value: float
    last_value: float
    count: int
    opened_at: datetime
    last_seen_at: datetime
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    resolved_by: str | None
    outcome: str | None
    dangerous: bool


class PatientMessage(Record):
    id: uuid.UUID
    alert_id: uuid.UUID | None
    template: str
    lang: str
    body: str
    created_at: datetime
    delivery: str  # sent, retrying, waiting_for_device, pending
    attempts: int
    failures: int
    sent_at: datetime | None
    sent_to: list[str] | None
    last_error: str | None
    next_attempt_at: datetime | None


class PatientOverview(BaseModel):
    patient: PatientHeader
    alerts: list[AlertHistoryRow]
    messages: list[PatientMessage]
    silences: list[Silence]  # in force now or still to come
