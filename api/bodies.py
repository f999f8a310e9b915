"""Request bodies of the REST API (pydantic, API schemas only), validated before any SQL runs.

Ids that people type follow the device-id pattern of the schema; time zones must be IANA names;
times must carry an offset.
"""

from __future__ import annotations

from datetime import time
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StrictInt

from alerts.escalation import Outcome
from ingest.dynsec import reserved_id

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (KeyError, ValueError, OSError):
        raise ValueError("not an IANA time zone") from None
    return name


def _no_nul(text: str) -> str:
    if "\x00" in text:
        raise ValueError("must not contain NUL characters")
    return text


def _not_service(device_id: str) -> str:
    if reserved_id(device_id):
        raise ValueError("svc- and vigil- name service accounts and clients, never a device")
    return device_id


def _naive(t: time) -> time:
    if t.tzinfo is not None:
        raise ValueError("a shift's clock time has no offset: its zone is `tz`")
    return t


Id = Annotated[str, Field(pattern=ID_PATTERN)]
Zone = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_zone)]
Text = Annotated[str, Field(max_length=2000), AfterValidator(_no_nul)]
Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_no_nul)]
Lang = Literal["en", "zh"]
GlucoseUnit = Literal["mg/dL", "mmol/L"]  # alerts.glucose_units
ShiftRole = Literal["nurse", "doctor"]
ClockTime = Annotated[time, AfterValidator(_naive)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PatientIn(Body):
    id: Id
    team_id: Id
    display_name: Name
    tz: Zone = "UTC"
    lang: Lang = "en"
    responsible_doctor: Id | None = None
    glucose_unit: GlucoseUnit | None = None  # null: the patient's device's, else by language


class PatientPatch(Body):
    team_id: Id | None = None
    display_name: Name | None = None
    tz: Zone | None = None
    lang: Lang | None = None
    responsible_doctor: Id | None = None
    glucose_unit: GlucoseUnit | None = None  # null clears the clinician's choice


class DeviceIn(Body):
    id: Annotated[Id, AfterValidator(_not_service)]
    kind: Annotated[str, Field(pattern=r"^[a-z0-9_]{1,40}$")]
    expected_cadence_s: Annotated[int, Field(gt=0, le=31 * 86400)] | None = None


class BindingIn(Body):
    patient_id: Id
    valid_from: AwareDatetime | None = None  # default: now
    reason: Text = ""


Finite = Annotated[float, Field(allow_inf_nan=False, ge=-1e6, le=1e6)]
Count = Annotated[StrictInt, Field(ge=1, le=100)]


class ThresholdParams(Body):
    """The parameters of a threshold rule an override may replace (stream.overrides.ALLOWED),
    thresholds in canonical units, one per metric of the rule."""

    thresholds: Annotated[list[Finite], Field(min_length=1, max_length=4)] | None = None
    clear_thresholds: Annotated[list[Finite], Field(min_length=1, max_length=4)] | None = None
    persistence_n: Count | None = None
    within_s: Annotated[float, Field(gt=0, le=7 * 86400, allow_inf_nan=False)] | None = None
    clear_n: Count | None = None

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class ThresholdIn(Body):
    rule_id: Annotated[str, Field(min_length=1, max_length=64)]
    params: ThresholdParams
    reason: Annotated[str, Field(min_length=1, max_length=2000), AfterValidator(_no_nul)]


class AcknowledgeIn(Body):
    note: Text = ""


class AssignIn(Body):
    staff_id: Id


class CommentIn(Body):
    text: Annotated[str, Field(min_length=1, max_length=2000), AfterValidator(_no_nul)]


class EscalateIn(Body):
    reason: Text = ""


class SnoozeIn(Body):
    until: AwareDatetime
    reason: Annotated[str, Field(min_length=1, max_length=2000), AfterValidator(_no_nul)]


class SilenceIn(Body):
    rule_id: Annotated[str, Field(pattern=r"^[a-z0-9_.]{1,80}$")] | None = None  # None: all
    starts_at: AwareDatetime | None = None  # default: now
    ends_at: AwareDatetime
    reason: Annotated[str, Field(min_length=1, max_length=2000), AfterValidator(_no_nul)]


class ResolveIn(Body):
    outcome: Outcome
    note: Text = ""
    # the doctor's call-back with "visit_booked": when and where (required for it, else absent)
    visit_at: AwareDatetime | None = None
    visit_place: Annotated[str, Field(max_length=200), AfterValidator(_no_nul)] = ""


class ShiftIn(Body):
    staff_id: Id
    role: ShiftRole
    tz: Zone
    weekdays: Annotated[list[Annotated[int, Field(ge=0, le=6)]], Field(min_length=1, max_length=7)]
    start_time: ClockTime
    end_time: ClockTime


class OverrideIn(Body):
    staff_id: Id
    role: ShiftRole
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    replaces: Id | None = None
    reason: Text = ""


class BackupsIn(Body):
    staff_ids: Annotated[list[Id], Field(max_length=20)]
