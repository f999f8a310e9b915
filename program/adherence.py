"""Adherence (issue 11 part 3): expected vs received per plan item over the last 7 and 30 local
days, and the days with data in the current 30-day billing period (CMS 99454: at least 16 of 30
days with data transmitted). Pure: plan versions, reading times and `now` in, figures out.

Counting rules (program.slots gives the slots):
- the last N days are the N local calendar days ending today in the patient's time zone, so a
  DST week still has 7 days (of 167 or 169 hours);
- a slot counts as expected once its window has closed, or earlier if it is already met: a
  morning slot is not "missed" at 08:00 while the patient can still measure;
- every version of an item counts for the slots due while it was in force, so a plan changed
  mid-window is judged by what was asked at the time;
- the billing period runs in 30-day blocks from the enrolment date (a rolling 30 days ending
  today without one); days so far are local dates with any reading; "reachable" says whether
  16 can still be met if the patient transmits on every day left, today included if today has
  no data yet.

Incremental use: `item_counts` takes sorted epoch seconds and bisects, and `billing` takes the
set of local dates with data (what a store keeps per patient, or SQL's DISTINCT local dates).

Must not: read a clock or the database.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

import numpy as np

from program.plans import PlanItem
from program.records import Medication
from program.slots import Schedule, day_bounds, local_date, slot_arrays

BILLING_DAYS_NEEDED = 16  # CMS CPT 99454, per 30-day period
BILLING_PERIOD_DAYS = 30
WINDOWS_DAYS = (7, 30)


@dataclass(frozen=True, slots=True)
class Counts:
    expected: int
    received: int

    @property
    def ratio(self) -> float | None:
        return None if self.expected == 0 else self.received / self.expected


@dataclass(frozen=True, slots=True)
class ItemAdherence:
    item_key: str
    metrics: tuple[str, ...]
    last_7d: Counts
    last_30d: Counts


@dataclass(frozen=True, slots=True)
class Billing:
    period_start: date
    period_end: date  # exclusive
    days_with_data: int
    days_left: int  # days of the period still open to data, today included if it has none yet
    needed: int = BILLING_DAYS_NEEDED

    @property
    def met(self) -> bool:
        return self.days_with_data >= self.needed

    @property
    def reachable(self) -> bool:
        return self.days_with_data + self.days_left >= self.needed


def has_reading(times: Sequence[float], start: float, end: float) -> bool:
    i = bisect_left(times, start)
    return i < len(times) and times[i] < end


class Scheduled(Protocol):
    @property
    def schedule(self) -> Schedule: ...


def item_counts(
    versions: Sequence[Scheduled], times: Sequence[float], tz: ZoneInfo, now: datetime, days: int
) -> Counts:
    """Expected and received slots of one item (all its versions) over the last `days` local
    days; `times` are the item's readings (any of its metrics) in epoch seconds, ascending."""
    return windows_counts(versions, times, tz, now, (days,))[0]


def windows_counts(
    versions: Sequence[Scheduled],
    times: Sequence[float],
    tz: ZoneInfo,
    now: datetime,
    windows: Sequence[int] = WINDOWS_DAYS,
) -> list[Counts]:
    """`item_counts` for several windows (local days ending today) at once, vectorised: the
    slots of a schedule shape are built once per time zone and day range (program.slots) and
    shared by every patient with that shape."""
    today = local_date(now.timestamp(), tz)
    at = now.timestamp()
    firsts = [day_bounds(today - timedelta(days=d - 1), tz)[0] for d in windows]
    t = np.asarray(times, dtype=np.float64)
    expected, received = [0] * len(windows), [0] * len(windows)
    oldest = today - timedelta(days=max(windows) - 1)
    for version in versions:
        sched = version.schedule
        shape = (sched.frequency, sched.local_times, sched.weekday)
        due, start, end = slot_arrays(*shape, oldest, today, tz)
        lo = sched.valid_from.timestamp() if sched.valid_from else -np.inf
        hi = sched.valid_to.timestamp() if sched.valid_to else np.inf
        met = _met(t, start, np.minimum(end, at + 1e-6))
        counted = (due >= lo) & (due < hi) & (start <= at) & ((end <= at) | met)
        for i, first in enumerate(firsts):
            w = counted & (due >= first)
            expected[i] += int(w.sum())
            received[i] += int((w & met).sum())
    return [Counts(e, r) for e, r in zip(expected, received, strict=True)]


def _met(t: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Per slot: is there a time in [start, end)? (`t` ascending)."""
    if t.size == 0:
        return np.zeros(start.shape, dtype=bool)
    idx = np.searchsorted(t, start, side="left")
    found = t[np.minimum(idx, t.size - 1)]
    return (idx < t.size) & (found < end)


def per_item(
    versions: Sequence[PlanItem],
    readings: Mapping[str, Sequence[float]],
    tz: ZoneInfo,
    now: datetime,
) -> list[ItemAdherence]:
    """Every item's counts over 7 and 30 days. `readings`: metric -> ascending epoch seconds."""
    by_key: dict[str, list[PlanItem]] = {}
    for v in versions:
        by_key.setdefault(v.item_key, []).append(v)
    out = []
    for key, vs in by_key.items():
        metrics = tuple(dict.fromkeys(m for v in vs for m in v.metrics))
        times = sorted({t for m in metrics for t in readings.get(m, ())})
        c7, c30 = windows_counts(vs, times, tz, now, WINDOWS_DAYS)
        out.append(ItemAdherence(key, vs[-1].metrics, c7, c30))
    return out


def per_medication(
    versions: Sequence[Medication],
    taken: Mapping[str, Sequence[float]],
    tz: ZoneInfo,
    now: datetime,
) -> dict[str, tuple[Counts, Counts]]:
    """Doses due vs answered "taken" per medication key over 7 and 30 days. `taken`: key ->
    ascending epoch seconds of the answered doses' slot times."""
    by_key: dict[str, list[Medication]] = {}
    for v in versions:
        by_key.setdefault(v.medication_key, []).append(v)
    out = {}
    for key, vs in by_key.items():
        c7, c30 = windows_counts(vs, taken.get(key, ()), tz, now, WINDOWS_DAYS)
        out[key] = (c7, c30)
    return out


def billing(data_days: Collection[date], today: date, enrolled_on: date | None) -> Billing:
    """The current 30-day period and its days with data (local dates)."""
    if enrolled_on is None or enrolled_on > today:
        start = today - timedelta(days=BILLING_PERIOD_DAYS - 1)
    else:
        blocks = (today - enrolled_on).days // BILLING_PERIOD_DAYS
        start = enrolled_on + timedelta(days=blocks * BILLING_PERIOD_DAYS)
    end = start + timedelta(days=BILLING_PERIOD_DAYS)
    so_far = sum(1 for d in set(data_days) if start <= d <= today)
    left = (end - today).days - (1 if today in data_days else 0)
    return Billing(start, end, so_far, left)


def data_days(times: Sequence[float], tz: ZoneInfo) -> set[date]:
    """Local dates with any reading (for callers holding raw times, not SQL's dates)."""
    return {local_date(t, tz) for t in times}
