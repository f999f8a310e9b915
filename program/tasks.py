"""Follow-up tasks and the structured record a contact leaves (DESIGN 11): what a completion
must say, how it maps onto the alert workflow, and when planned follow-up calls fall due.

- A task is the doctor's tier-3 callback (opened by the alert workflow, README "Tasks"), a
  nurse's planned follow-up call, or a nurse's review when a patient's risk rises to high.
- Completing a task writes a follow-up record: contact type, outcome, symptoms, medication
  changes, advice given, next contact, and for a booked visit its date and place.
- "Not reached" records the attempt and leaves the task (and a callback's alert) open.
- A callback's outcome resolves its alert: reached -> `callback_done`, visit booked ->
  `visit_booked`; the alert leads, so the task is closed by the alert's resolution.

Must not: read the database or the clock (`now` is passed in).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from types import MappingProxyType
from zoneinfo import ZoneInfo

from alerts.escalation import Outcome as AlertOutcome

MAX_TEXT = 4000


class TaskKind(StrEnum):
    CALLBACK = "callback"
    FOLLOW_UP_CALL = "follow_up_call"
    RISK_REVIEW = "risk_review"


class ContactType(StrEnum):
    PHONE = "phone"
    VIDEO = "video"
    VISIT = "visit"
    MESSAGE = "message"
    NONE = "none"  # a review done from the record, without contacting the patient


class TaskOutcome(StrEnum):
    REACHED = "reached"
    NOT_REACHED = "not_reached"
    VISIT_BOOKED = "visit_booked"
    CLOSED_WITH_ALERT = "closed_with_alert"  # recorded by the alert workflow only


# A callback's outcome -> the alert's resolution outcome (None: the alert stays open).
ALERT_OUTCOME = MappingProxyType(
    {
        TaskOutcome.REACHED: AlertOutcome.CALLBACK_DONE,
        TaskOutcome.VISIT_BOOKED: AlertOutcome.VISIT_BOOKED,
        TaskOutcome.NOT_REACHED: None,
    }
)


class CompletionError(ValueError):
    """A completion that does not say what it must (maps to 422)."""


@dataclass(frozen=True, slots=True)
class Completion:
    outcome: TaskOutcome
    contact_type: ContactType
    symptoms: str = ""
    medication_changes: str = ""
    advice_given: str = ""
    note: str = ""
    visit_at: datetime | None = None
    visit_place: str | None = None
    next_contact_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.outcome is TaskOutcome.CLOSED_WITH_ALERT:
            raise CompletionError("closed_with_alert is recorded by the alert workflow only")
        booked = self.outcome is TaskOutcome.VISIT_BOOKED
        if booked != (self.visit_at is not None and bool((self.visit_place or "").strip())):
            raise CompletionError("a booked visit, and only a booked visit, has a date and place")
        for when in (self.visit_at, self.next_contact_at):
            if when is not None and when.tzinfo is None:
                raise CompletionError("times need a UTC offset")
        texts = (self.symptoms, self.medication_changes, self.advice_given, self.note)
        if any(len(t) > MAX_TEXT for t in texts):
            raise CompletionError(f"a text field has at most {MAX_TEXT} characters")

    @property
    def closes_task(self) -> bool:
        return self.outcome is not TaskOutcome.NOT_REACHED


@dataclass(frozen=True, slots=True)
class CallPlan:
    """Nurse follow-up calls: weekly for `weekly` weeks after discharge, then monthly."""

    weekly: int = 4
    monthly: int = 11  # a year of chronic care in all
    at: time = time(10, 0)  # local time of day the call falls due


FOLLOW_UP = CallPlan()  # after a discharge
CHRONIC = CallPlan(weekly=0, monthly=12)  # chronic care without a recent discharge


def follow_up_dues(
    start: date, tz: str, now: datetime, plan: CallPlan = FOLLOW_UP
) -> tuple[datetime, ...]:
    """The due times (UTC-aware) of the planned calls from `start` (discharge, or enrolment
    for chronic care) that are still ahead of `now`; a month is 30 days."""
    offsets = [7 * (i + 1) for i in range(plan.weekly)]
    last = offsets[-1] if offsets else 0
    offsets += [last + 30 * (i + 1) for i in range(plan.monthly)]
    zone = ZoneInfo(tz)
    dues = (datetime.combine(start + timedelta(days=d), plan.at, zone) for d in offsets)
    return tuple(d for d in dues if d > now)


def is_overdue(due_at: datetime, now: datetime) -> bool:
    return due_at < now
