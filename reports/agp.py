"""Glucose figures of the patient summary: the Ambulatory Glucose Profile of the international
consensus (Battelino et al., Diabetes Care 2019;42:1593, "Clinical Targets for CGM Data
Interpretation"; Danne et al., Diabetes Care 2017;40:1631) for CGM users, and readings by time of
day with the fasting mean for meter users. Pure: arrays of epoch seconds and mg/dL in.

Definitions (all on readings, which for a CGM are equally spaced, so a share of readings is a
share of time):
- time in ranges, edges exact: very low `v < 54`; low `54 <= v < 70`; in range `70 <= v <= 180`;
  high `180 < v <= 250`; very high `v > 250` (mg/dL). Integer readings give the consensus'
  "<54, 54–69, 70–180, 181–250, >250";
- GMI % = 3.31 + 0.02392 × mean mg/dL (Bergenstal et al., Diabetes Care 2018);
- CV % = SD / mean × 100 with the sample SD (n − 1); target ≤ 36 %;
- sensor wear % = CGM readings received / readings expected at the CGM's interval over the
  period (capped at 100 %); the consensus asks ≥ 70 % of 14 days for a meaningful AGP;
- the modal day: percentiles 5/25/50/75/95 (linear interpolation, numpy's default) per 15-minute
  bin of local time of day over all days of the period; a bin with fewer than 5 readings is
  left blank;
- daily profiles: the readings of each of the last 14 local days of the period;
- meter users: readings per time-of-day slot (`SLOTS`) and the fasting mean: readings tagged
  fasting by the device (`context.meal` "fasting" or "before_breakfast", or `context.fasting`
  true), else (no tagged reading in the period) the first reading of each local day between
  04:00 and 09:00, marked as assumed.

Must not: read a clock or the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np

from reports._clock import DAY_S, HOUR_S, local_day_and_clock
from reports.stats import Stats, stats

GMI_INTERCEPT = 3.31
GMI_SLOPE = 0.02392
CV_TARGET_PCT = 36.0
WEAR_TARGET_PCT = 70.0
PERCENTILES = (5, 25, 50, 75, 95)
BIN_S = 15 * 60
MIN_PER_BIN = 5
DAILY_PROFILE_DAYS = 14
FASTING_WINDOW_S = (4 * HOUR_S, 9 * HOUR_S)


@dataclass(frozen=True, slots=True)
class RangeSpec:
    """One glucose range: `low <= v` (or `low < v`) and `v < high` (or `v <= high`)."""

    key: str
    low: float | None
    low_inclusive: bool
    high: float | None
    high_inclusive: bool
    target: str  # the consensus target for most adults with type 1 or type 2 diabetes

    def mask(self, v: np.ndarray) -> np.ndarray:
        m = np.ones(v.shape, dtype=bool)
        if self.low is not None:
            m &= (v >= self.low) if self.low_inclusive else (v > self.low)
        if self.high is not None:
            m &= (v <= self.high) if self.high_inclusive else (v < self.high)
        return m


RANGES: tuple[RangeSpec, ...] = (
    RangeSpec("very_low", None, False, 54.0, False, "< 1 %"),
    RangeSpec("low", 54.0, True, 70.0, False, "< 4 % (with very low)"),
    RangeSpec("in_range", 70.0, True, 180.0, True, "> 70 %"),
    RangeSpec("high", 180.0, False, 250.0, True, "< 25 % (with very high)"),
    RangeSpec("very_high", 250.0, False, None, False, "< 5 %"),
)


@dataclass(frozen=True, slots=True)
class TimeSlot:
    key: str
    start_h: int
    end_h: int


SLOTS: tuple[TimeSlot, ...] = (
    TimeSlot("night", 0, 6),
    TimeSlot("morning", 6, 10),
    TimeSlot("midday", 10, 14),
    TimeSlot("afternoon", 14, 18),
    TimeSlot("evening", 18, 22),
    TimeSlot("late", 22, 24),
)


@dataclass(frozen=True, slots=True)
class Glucose:
    """Readings of one patient: times (epoch s), mg/dL, from a CGM?, tagged fasting?"""

    t: np.ndarray
    mg_dl: np.ndarray
    cgm: np.ndarray
    fasting: np.ndarray


@dataclass(frozen=True, slots=True)
class ModalDay:
    bin_s: int
    percentiles: tuple[int, ...]
    values: np.ndarray  # len(percentiles) × bins, NaN where a bin has too few readings


@dataclass(frozen=True, slots=True)
class DayProfile:
    day: int  # local day number (reports._clock.day_date)
    clock_s: np.ndarray
    mg_dl: np.ndarray


@dataclass(frozen=True, slots=True)
class Agp:
    n: int
    shares: dict[str, float]  # RANGES key -> share of readings, 0..1
    mean_mg_dl: float
    gmi_pct: float
    cv_pct: float | None
    wear_pct: float
    modal_day: ModalDay
    daily: tuple[DayProfile, ...]


@dataclass(frozen=True, slots=True)
class SlotFigures:
    key: str
    stats: Stats


@dataclass(frozen=True, slots=True)
class Meter:
    n: int
    slots: tuple[SlotFigures, ...]
    fasting: Stats
    fasting_assumed: bool
    shares: dict[str, float]


def range_shares(v: np.ndarray) -> dict[str, float]:
    n = v.size
    return {r.key: (float(r.mask(v).sum()) / n if n else 0.0) for r in RANGES}


def gmi_pct(mean_mg_dl: float) -> float:
    return GMI_INTERCEPT + GMI_SLOPE * mean_mg_dl


def cv_pct(v: np.ndarray) -> float | None:
    if v.size < 2:
        return None
    return float(np.std(v, ddof=1) / np.mean(v) * 100.0)


def wear_pct(received: int, period_s: float, interval_s: float) -> float:
    expected = period_s / interval_s
    return 0.0 if expected <= 0 else min(100.0, 100.0 * received / expected)


def modal_day(clock_s: np.ndarray, v: np.ndarray, bin_s: int = BIN_S) -> ModalDay:
    bins = DAY_S // bin_s
    idx = np.minimum((clock_s // bin_s).astype(np.int64), bins - 1)
    out = np.full((len(PERCENTILES), bins), np.nan)
    order = np.argsort(idx, kind="stable")
    counts = np.bincount(idx, minlength=bins)
    for b, chunk in enumerate(np.split(v[order], np.cumsum(counts)[:-1])):
        if chunk.size >= MIN_PER_BIN:
            out[:, b] = np.percentile(chunk, PERCENTILES)
    return ModalDay(bin_s, PERCENTILES, out)


def daily_profiles(day: np.ndarray, clock_s: np.ndarray, v: np.ndarray,
                   last_day: int) -> tuple[DayProfile, ...]:  # fmt: skip
    first = last_day - DAILY_PROFILE_DAYS + 1
    return tuple(DayProfile(d, clock_s[day == d], v[day == d]) for d in range(first, last_day + 1))


def agp(t: np.ndarray, v: np.ndarray, tz: ZoneInfo, period_s: float, interval_s: float,
        last_day: int) -> Agp | None:  # fmt: skip
    """The AGP of CGM readings (None without any); `last_day`: the period's last local day."""
    if v.size == 0:
        return None
    day, clock = local_day_and_clock(t, tz)
    mean = float(np.mean(v))
    return Agp(int(v.size), range_shares(v), mean, gmi_pct(mean), cv_pct(v),
               wear_pct(int(v.size), period_s, interval_s), modal_day(clock, v),
               daily_profiles(day, clock, v, last_day))  # fmt: skip


def meter(t: np.ndarray, v: np.ndarray, tagged: np.ndarray, tz: ZoneInfo) -> Meter | None:
    """Meter readings by time-of-day slot and the fasting mean (None without any reading)."""
    if v.size == 0:
        return None
    day, clock = local_day_and_clock(t, tz)
    hours = clock / HOUR_S
    slots = tuple(
        SlotFigures(s.key, stats(v[(hours >= s.start_h) & (hours < s.end_h)])) for s in SLOTS
    )
    assumed = not bool(tagged.any())
    fasting = first_morning(day, clock, t) if assumed else tagged
    return Meter(int(v.size), slots, stats(v[fasting]), assumed, range_shares(v))


def first_morning(day: np.ndarray, clock_s: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Per local day, the first reading between 04:00 and 09:00 (a mask)."""
    lo, hi = FASTING_WINDOW_S
    window = (clock_s >= lo) & (clock_s < hi)
    mask = np.zeros(t.shape, dtype=bool)
    candidates = np.flatnonzero(window)
    if candidates.size == 0:
        return mask
    order = candidates[np.lexsort((t[candidates], day[candidates]))]
    _, first = np.unique(day[order], return_index=True)
    mask[order[first]] = True
    return mask
