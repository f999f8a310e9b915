"""When a plan item expects a measurement: its slots, in the patient's time zone, DST included.
Pure: dates, a time zone and a plan item in; slots (epoch seconds) out.

A slot is a due time and a window in which a reading satisfies it. Windows partition time, so a
reading satisfies at most one slot of an item and two readings in one window count once:

- `times_per_day`: one slot per local time; the local day is split at the midpoints between
  consecutive times (a 07:00 reading satisfies the 07:30 slot, a 19:00 one the 19:30 slot);
- `daily`: one slot per local day, the window the whole local day (23 or 25 hours when the
  clocks change), due at `local_times[0]` if given, else at local midnight;
- `weekly`: one slot per local week (Monday to Sunday), due on `weekday` (default Monday);
- `continuous`: one slot per elapsed hour of the local day (23 on the spring-forward day).

A local time that does not exist on a spring-forward day (02:30 in New York) is read with the
offset before the change, as `zoneinfo` does (fold=0): 02:30 EST, i.e. 03:30 EDT.

Must not: read a clock or know about readings' storage.
"""

from __future__ import annotations

import enum
import functools
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np

HOUR_S = 3600.0


class Frequency(enum.StrEnum):
    TIMES_PER_DAY = "times_per_day"  # at `local_times`, in the patient's time zone
    DAILY = "daily"  # once per local day (at `local_times[0]` for reminders, if given)
    WEEKLY = "weekly"  # once per local week (Monday to Sunday), reminded on `weekday`
    CONTINUOUS = "continuous"  # a CGM: data expected in every hour


@dataclass(frozen=True, slots=True)
class Schedule:
    """When something is due: a plan item's or a medication's schedule, while in force."""

    frequency: Frequency
    local_times: tuple[time, ...] = ()
    weekday: int | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None


@dataclass(frozen=True, slots=True)
class Slot:
    due: float  # epoch seconds
    start: float  # window [start, end)
    end: float


# Memoised: a pure function of its arguments, and patients share time zones, days and plan
# times, so recomputing adherence for thousands of patients converts each instant once.
@functools.lru_cache(maxsize=1 << 16)
def local_instant(day: date, at: time, tz: ZoneInfo) -> float:
    return datetime.combine(day, at, tzinfo=tz).timestamp()


@functools.lru_cache(maxsize=1 << 14)
def day_bounds(day: date, tz: ZoneInfo) -> tuple[float, float]:
    return local_instant(day, time(0), tz), local_instant(day + timedelta(days=1), time(0), tz)


def local_date(t: float, tz: ZoneInfo) -> date:
    return datetime.fromtimestamp(t, tz).date()


def day_slots(item: Schedule, day: date, tz: ZoneInfo) -> Iterator[Slot]:
    """The item's slots whose due time falls on local `day`."""
    start, end = day_bounds(day, tz)
    match item.frequency:
        case Frequency.TIMES_PER_DAY:
            dues = [local_instant(day, t, tz) for t in item.local_times]
            cuts = [start, *((a + b) / 2 for a, b in itertools.pairwise(dues)), end]
            for i, due in enumerate(dues):
                yield Slot(due, cuts[i], cuts[i + 1])
        case Frequency.DAILY:
            due = local_instant(day, item.local_times[0], tz) if item.local_times else start
            yield Slot(due, start, end)
        case Frequency.WEEKLY:
            if day.weekday() == (item.weekday or 0):
                monday = day - timedelta(days=day.weekday())
                at = item.local_times[0] if item.local_times else time(0)
                week_end = day_bounds(monday + timedelta(days=6), tz)[1]
                yield Slot(local_instant(day, at, tz), day_bounds(monday, tz)[0], week_end)
        case Frequency.CONTINUOUS:
            t = start
            while t < end:
                yield Slot(t, t, min(t + HOUR_S, end))
                t += HOUR_S


def slots(item: Schedule, first: date, last: date, tz: ZoneInfo) -> Iterator[Slot]:
    """The slots due on local days `first` to `last` (inclusive) while `item` was in force."""
    lo = item.valid_from.timestamp() if item.valid_from else float("-inf")
    hi = item.valid_to.timestamp() if item.valid_to else float("inf")
    day = first
    while day <= last:
        yield from (s for s in day_slots(item, day, tz) if lo <= s.due < hi)
        day += timedelta(days=1)


@functools.lru_cache(maxsize=4096)
def slot_arrays(
    frequency: Frequency,
    local_times: tuple[time, ...],
    weekday: int | None,
    first: date,
    last: date,
    tz: ZoneInfo,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Due times, window starts and ends (epoch seconds) of a schedule's slots on local days
    `first` to `last`, ignoring validity (callers mask by it). Memoised: patients share shapes;
    the arrays are read-only."""
    found = list(slots(Schedule(frequency, local_times, weekday), first, last, tz))
    arrays = tuple(np.array([getattr(s, f) for s in found], dtype=np.float64)
                   for f in ("due", "start", "end"))  # fmt: skip
    for a in arrays:
        a.flags.writeable = False
    return arrays[0], arrays[1], arrays[2]
