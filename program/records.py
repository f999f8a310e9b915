"""The patient record (issue 11 part 1): conditions, medications with their schedules, contact,
responsible clinicians, enrolment, discharge and consent, as frozen values. Pure: no I/O.

Conditions and medications are versioned in the database (valid_from/valid_to rows, a change
closes the row in force and adds one), so `as_of` answers "what was it on that day" from the
versions a repository read.

Must not: read a clock or know about SQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Protocol, TypeVar

from program.slots import Frequency, Schedule

CODE_SYSTEMS = ("icd10", "snomed")
SEXES = ("female", "male", "other", "unknown")
_ICD10 = re.compile(r"^[A-TV-Z][0-9][0-9AB](\.[0-9A-Z]{1,4})?$")
_SNOMED = re.compile(r"^[1-9][0-9]{5,17}$")


@dataclass(frozen=True, slots=True)
class Condition:
    system: str  # icd10 or snomed
    code: str
    display: str
    valid_from: datetime | None = None
    valid_to: datetime | None = None

    def __post_init__(self) -> None:
        pattern = {"icd10": _ICD10, "snomed": _SNOMED}.get(self.system)
        if pattern is None or not pattern.match(self.code):
            raise ValueError(f"not a valid {self.system} code: {self.code!r}")
        if not self.display.strip():
            raise ValueError("a condition needs its display text")


@dataclass(frozen=True, slots=True)
class Medication:
    medication_key: str
    name: str
    dose: str
    times: tuple[time, ...] = ()  # local times of day, in the patient's time zone
    valid_from: datetime | None = None
    valid_to: datetime | None = None

    def __post_init__(self) -> None:
        if not self.medication_key or not self.name.strip() or not self.dose.strip():
            raise ValueError("a medication needs a key, a name and a dose")
        if list(self.times) != sorted(set(self.times)):
            raise ValueError("medication times must be distinct and in order")

    @property
    def schedule(self) -> Schedule:
        return Schedule(Frequency.TIMES_PER_DAY, self.times, None, self.valid_from, self.valid_to)


@dataclass(frozen=True, slots=True)
class Record:
    patient_id: str
    tz: str
    lang: str
    birth_date: date | None = None
    sex: str | None = None
    phone: str | None = None
    responsible_doctor: str | None = None
    responsible_nurse: str | None = None
    enrolled_on: date | None = None
    discharged_on: date | None = None
    consent_at: datetime | None = None
    consent_scope: tuple[str, ...] = ()
    reminders_opt_out: bool = False
    quiet_start: time = time(22, 0)
    quiet_end: time = time(7, 0)
    conditions: tuple[Condition, ...] = field(default=())
    medications: tuple[Medication, ...] = field(default=())


class _Versioned(Protocol):
    @property
    def valid_from(self) -> datetime | None: ...
    @property
    def valid_to(self) -> datetime | None: ...


V = TypeVar("V", bound=_Versioned)


def as_of(versions: Iterable[V], at: datetime) -> list[V]:
    """The versions in force at `at` (valid_from <= at < valid_to)."""
    return [
        v
        for v in versions
        if (v.valid_from is None or v.valid_from <= at) and (v.valid_to is None or at < v.valid_to)
    ]


def medication_key(name: str, existing: Sequence[str]) -> str:
    """A stable key for a new medication: its name as a slug, made unique among `existing`."""
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "medication"
    key, n = base, 2
    while key in existing:
        key, n = f"{base}-{n}", n + 1
    return key
