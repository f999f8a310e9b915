"""Home blood pressure of the patient summary, per the ESH 2021 practice guidelines for office
and out-of-office BP measurement (Stergiou et al., J Hypertens 2021;39:1293): morning and evening
means, the share of readings in target and the home mean against 135/85 mmHg. Pure.

Rules as this module applies them (documented in the report too):
- a reading is a systolic/diastolic pair measured together (same device and message);
- morning: local time 04:00–12:00, evening: 17:00–24:00 (the protocol's "morning, before
  drugs" and "evening, before dinner"); readings outside both count in the home mean only;
- ESH discards day 1 of a 7-day series (the first readings are higher, an alerting effect).
  A report period holds one continuous home series, so its first local day with readings is
  discarded when readings exist on at least two days; the discarded count is reported;
- in target: systolic < 135 and diastolic < 85 (ESH home threshold for hypertension).

Must not: read a clock or the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np

from reports._clock import HOUR_S, local_day_and_clock

HOME_SYSTOLIC_TARGET = 135.0
HOME_DIASTOLIC_TARGET = 85.0
MORNING_H = (4, 12)
EVENING_H = (17, 24)


@dataclass(frozen=True, slots=True)
class Mean:
    n: int
    systolic: float | None
    diastolic: float | None


@dataclass(frozen=True, slots=True)
class HomeBp:
    n: int  # pairs in the period
    discarded: int  # pairs of the discarded first day
    days: int  # local days with readings, the discarded one included
    home: Mean
    morning: Mean
    evening: Mean
    in_target_pct: float | None


def _mean(s: np.ndarray, d: np.ndarray) -> Mean:
    if s.size == 0:
        return Mean(0, None, None)
    return Mean(int(s.size), float(np.mean(s)), float(np.mean(d)))


def home_bp(t: np.ndarray, systolic: np.ndarray, diastolic: np.ndarray,
            tz: ZoneInfo) -> HomeBp | None:  # fmt: skip
    """ESH home figures of paired readings (None without any)."""
    if t.size == 0:
        return None
    day, clock = local_day_and_clock(t, tz)
    days = np.unique(day)
    keep = day != days[0] if days.size >= 2 else np.ones(t.shape, dtype=bool)
    s, d, hours = systolic[keep], diastolic[keep], clock[keep] / HOUR_S
    morning = (hours >= MORNING_H[0]) & (hours < MORNING_H[1])
    evening = (hours >= EVENING_H[0]) & (hours < EVENING_H[1])
    in_target = (s < HOME_SYSTOLIC_TARGET) & (d < HOME_DIASTOLIC_TARGET)
    return HomeBp(
        n=int(t.size),
        discarded=int((~keep).sum()),
        days=int(days.size),
        home=_mean(s, d),
        morning=_mean(s[morning], d[morning]),
        evening=_mean(s[evening], d[evening]),
        in_target_pct=float(in_target.mean() * 100.0) if s.size else None,
    )
