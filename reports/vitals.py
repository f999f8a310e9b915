"""Weight, SpO2 and heart rate of the patient summary. Pure.

- weight: first, last and change over the period, and the heart-failure rule the stream pages
  on (stream.rule_patterns `weight.gain_3d`: a reading at least `delta` kg above the lowest
  reading of the `span_s` before it; ESC HF 2021). Its constants are read from the rule table,
  so the report and the alerts never disagree; the report lists the local days where it held;
- SpO2: the usual statistics and the share of readings at or below the limits of the stream's
  SpO2 rules (`spo2.severe`, `spo2.review`);
- heart rate: the usual statistics.

Must not: read a clock or the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np

from reports._clock import local_day_and_clock
from reports.stats import Stats, share, stats
from stream.rule_patterns import TREND_RULES
from stream.rule_thresholds import THRESHOLD_RULES

WEIGHT_RULE = next(r for r in TREND_RULES if r.id == "weight.gain_3d")
SPO2_SEVERE = next(r for r in THRESHOLD_RULES if r.id == "spo2.severe").thresholds[0]
SPO2_REVIEW = next(r for r in THRESHOLD_RULES if r.id == "spo2.review").thresholds[0]


@dataclass(frozen=True, slots=True)
class Weight:
    stats: Stats
    first_kg: float
    last_kg: float
    change_kg: float
    max_gain_kg: float  # the largest gain of the rule's kind over the period
    rule_days: tuple[int, ...]  # local day numbers with a reading meeting the rule
    gain_kg: float = WEIGHT_RULE.delta
    span_days: float = WEIGHT_RULE.span_s / 86_400


@dataclass(frozen=True, slots=True)
class Spo2:
    stats: Stats
    at_or_below_severe_pct: float | None
    at_or_below_review_pct: float | None
    severe_limit: float = SPO2_SEVERE
    review_limit: float = SPO2_REVIEW


def gains(t: np.ndarray, kg: np.ndarray, span_s: float = WEIGHT_RULE.span_s) -> np.ndarray:
    """Per reading (t ascending): its value minus the lowest of the `span_s` before it (NaN for
    a reading with none before it), as stream.evaluate's `gain` computes it."""
    start = np.searchsorted(t, t - span_s, side="left")
    end = np.searchsorted(t, t, side="left")
    out = np.full(t.shape, np.nan)
    for i in np.flatnonzero(end > start):
        out[i] = kg[i] - kg[start[i] : end[i]].min()
    return out


def weight(t: np.ndarray, kg: np.ndarray, tz: ZoneInfo) -> Weight | None:
    if t.size == 0:
        return None
    g = gains(t, kg)
    hit = np.nan_to_num(g, nan=-np.inf) >= WEIGHT_RULE.delta
    day, _ = local_day_and_clock(t, tz)
    best = float(np.nanmax(g)) if np.isfinite(g).any() else 0.0
    return Weight(stats(kg), float(kg[0]), float(kg[-1]), float(kg[-1] - kg[0]), best,
                  tuple(int(d) for d in np.unique(day[hit])))  # fmt: skip


def spo2(v: np.ndarray) -> Spo2 | None:
    if v.size == 0:
        return None
    severe, review = share(v <= SPO2_SEVERE), share(v <= SPO2_REVIEW)
    return Spo2(stats(v), None if severe is None else severe * 100,
                None if review is None else review * 100)  # fmt: skip


def heart_rate(v: np.ndarray) -> Stats | None:
    return None if v.size == 0 else stats(v)
