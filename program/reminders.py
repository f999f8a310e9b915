"""Scheduled tier-1 messages (issue 11 part 4): measurement reminders at the plan's local times,
medication reminders from the medication schedule, weekly advice per condition, with quiet
hours and a per-patient opt-out. Pure: the patient's preferences, plan, medications, a window
`(since, now]` and the clock in; the messages due in that window out.

Each message has a deterministic id (patient, kind, what it is for, scheduled time), so the
scheduler can run every minute over the last hour, restart, or run twice: the outbox row is
written once and a device that gets it twice drops the copy by `message_id`.

Quiet hours (default 22:00-07:00 local) suppress a message due inside them; it is not sent
later (a bedtime-dose reminder the next morning would be wrong). An opted-out patient gets none.
Continuous (CGM) items get no reminders: the sensor measures by itself.

Must not: read a clock, write anything, or send a clinical alert (those are the alerts').
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from program.advice import TOPICS, render_advice, render_dose, render_measure
from program.plans import Frequency, PlanItem
from program.records import Medication
from program.slots import local_date, slots

PROGRAM_NAMESPACE = uuid.UUID("6f9b0a52-3f0e-4d8e-9f43-2b1d0c6a7e11")
ADVICE_WEEKDAY = 2  # Wednesday
ADVICE_AT = time(10, 0)


@dataclass(frozen=True, slots=True)
class Prefs:
    tz: str
    lang: str
    opt_out: bool = False
    quiet_start: time = time(22, 0)
    quiet_end: time = time(7, 0)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message for the outbox (`patient_messages`, no alert)."""

    id: uuid.UUID
    patient_id: str
    template: str  # measure_reminder, medication_reminder, advice, stopped_measuring
    lang: str
    body: str
    ref_key: str
    slot_at: datetime


def message_id(patient_id: str, template: str, ref_key: str, slot_at: datetime) -> uuid.UUID:
    key = f"{patient_id}|{template}|{ref_key}|{slot_at.astimezone(UTC).isoformat()}"
    return uuid.uuid5(PROGRAM_NAMESPACE, key)


def quiet(at: time, start: time, end: time) -> bool:
    """Whether local time `at` is inside quiet hours [start, end) (which may wrap midnight)."""
    if start == end:
        return False
    return start <= at < end if start < end else (at >= start or at < end)


def due_messages(
    patient_id: str,
    prefs: Prefs,
    items: Sequence[PlanItem],
    medications: Sequence[Medication],
    advice_group: str,
    since: datetime,
    now: datetime,
) -> list[Outgoing]:
    """The messages scheduled in `(since, now]`, outside quiet hours, unless opted out."""
    if prefs.opt_out:
        return []
    zone = ZoneInfo(prefs.tz)
    lo, hi = since.timestamp(), now.timestamp()
    first, last = local_date(lo, zone), local_date(hi, zone)
    found = [*_measure(items, first, last, zone, prefs.lang), *_doses(medications, first, last,
             zone, prefs.lang), *_advice(advice_group, first, last, zone, prefs.lang)]  # fmt: skip
    return [
        Outgoing(message_id(patient_id, t, k, at), patient_id, t, prefs.lang, body, k, at)
        for t, k, at, body in found
        if lo < at.timestamp() <= hi
        and not quiet(at.astimezone(zone).time(), prefs.quiet_start, prefs.quiet_end)
    ]


Found = tuple[str, str, datetime, str]  # template, ref_key, scheduled time, body


def _at(t: float, zone: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(t, zone)


def _measure(items: Sequence[PlanItem], first: date, last: date, zone: ZoneInfo,
             lang: str) -> Iterator[Found]:  # fmt: skip
    for item in items:
        if item.frequency is Frequency.CONTINUOUS or not item.local_times:
            continue
        for s in slots(item.schedule, first, last, zone):
            at = _at(s.due, zone)
            yield ("measure_reminder", item.item_key, at,
                   render_measure(item.metrics[0], at.time(), lang))  # fmt: skip


def _doses(medications: Sequence[Medication], first: date, last: date, zone: ZoneInfo,
           lang: str) -> Iterator[Found]:  # fmt: skip
    for m in medications:
        for s in slots(m.schedule, first, last, zone):
            at = _at(s.due, zone)
            yield ("medication_reminder", m.medication_key, at,
                   render_dose(m.name, m.dose, at.time(), lang))  # fmt: skip


def _advice(group: str, first: date, last: date, zone: ZoneInfo, lang: str) -> Iterator[Found]:
    day = first
    while day <= last:
        if day.weekday() == ADVICE_WEEKDAY:
            topic = TOPICS[day.isocalendar().week % len(TOPICS)]  # a different topic each week
            at = datetime.combine(day, ADVICE_AT, zone)
            yield "advice", f"{group}:{topic}", at, render_advice(group, topic, lang)
        day += timedelta(days=1)
