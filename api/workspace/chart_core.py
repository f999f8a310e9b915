"""What a patient chart shows, as data, and the pure arithmetic behind it.

- `CHARTS`: the chart table. Each chart names its metrics, whether its readings are split by the
  kind of device that measured them (glucose: the CGM trace vs meter points), and the target bands
  drawn under it (home BP 135/85, glucose 70-180 mg/dL), each citing its source.
- `window`: the time window of a named range (24h, 7d, 30d, 90d) ending at `now`, or around an
  alert (`alert_window`).
- `bucket_width_s`: the bucket width that keeps a window within `MAX_BUCKETS` buckets, so the
  min/max of each bucket (two points at most) never exceeds `MAX_POINTS` per series.
- `points`: a series' points from its bucket rows: the bucket's minimum and maximum at the times
  they were measured (one point when they coincide), in time order.
- `thresholds_in_effect`: the threshold rules drawn on a chart, with the patient's overrides
  applied by the stream's own `OverrideIndex`.

Pure: no I/O, `now` passed in. Must not: query readings (api.queries.charts does) or render.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from stream.overrides import Override, OverrideIndex
from stream.rule_sources import BATTELINO, ESH_HOME
from stream.rules import DEFAULT_RULES, RuleSet

MAX_POINTS = 2000  # per series: what a browser chart is ever sent
MAX_BUCKETS = MAX_POINTS // 2  # a bucket yields its minimum and its maximum
RANGES: dict[str, timedelta] = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
}
AROUND_ALERT = timedelta(hours=6)  # drawn before an alert opened and after it was last seen
MAX_WINDOW = timedelta(days=366)


@dataclass(frozen=True, slots=True)
class Target:
    metric: str
    low: float | None
    high: float | None
    source: str


@dataclass(frozen=True, slots=True)
class ChartSpec:
    key: str
    metrics: tuple[str, ...]
    split_by_device: bool = False  # glucose: CGM trace vs meter points
    targets: tuple[Target, ...] = ()


CHARTS: dict[str, ChartSpec] = {
    spec.key: spec
    for spec in (
        ChartSpec(
            "blood_pressure",
            ("systolic_bp", "diastolic_bp"),
            targets=(
                Target("systolic_bp", None, 135.0, ESH_HOME),
                Target("diastolic_bp", None, 85.0, ESH_HOME),
            ),
        ),
        ChartSpec(
            "glucose",
            ("glucose",),
            split_by_device=True,
            targets=(Target("glucose", 70.0, 180.0, BATTELINO),),
        ),
        ChartSpec("weight", ("weight",)),
        ChartSpec("spo2", ("spo2",)),
        ChartSpec("heart_rate", ("heart_rate",)),
        ChartSpec("respiratory_rate", ("respiratory_rate",)),
        ChartSpec("body_temperature", ("body_temperature",)),
    )
}
CHART_OF_METRIC = {m: spec for spec in CHARTS.values() for m in spec.metrics}


def series_key(spec: ChartSpec, metric: str, continuous: bool) -> str:
    """The series a reading belongs to: its metric, or for glucose the kind of device (a
    continuous monitor's trace, or a meter's points)."""
    if spec.split_by_device:
        return "cgm" if continuous else "meter"
    return metric


def window(range_key: str, now: datetime) -> tuple[datetime, datetime]:
    return now - RANGES[range_key], now


def alert_window(
    opened_at: datetime, last_seen_at: datetime, resolved_at: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    """From `AROUND_ALERT` before the alert opened to as long after its last reading (or its
    resolution), never past `now` and never empty."""
    since = opened_at - AROUND_ALERT
    until = min(now, max(last_seen_at, resolved_at or last_seen_at) + AROUND_ALERT)
    return since, max(until, opened_at + timedelta(seconds=1))


def bucket_width_s(since: datetime, until: datetime) -> int:
    """Whole seconds, wide enough that [since, until) meets at most `MAX_BUCKETS` buckets
    (however the buckets are aligned: an interval of n widths meets at most n + 1)."""
    span_s = (until - since).total_seconds()
    return max(1, math.ceil(span_s / (MAX_BUCKETS - 1)))


@dataclass(frozen=True, slots=True)
class BucketRow:
    """One bucket of one series: its extremes and when they were measured."""

    n: int
    lo: float
    lo_t: float  # epoch seconds
    hi: float
    hi_t: float


def points(rows: Iterable[BucketRow]) -> tuple[list[float], list[float], bool]:
    """(epoch seconds, values, whether readings were left out) for buckets in time order."""
    ts: list[float] = []
    vs: list[float] = []
    dropped = False
    for row in rows:
        dropped = dropped or row.n > 2
        for t, value in sorted({(row.lo_t, row.lo), (row.hi_t, row.hi)}):
            ts.append(t)
            vs.append(value)
    return ts, vs, dropped


@dataclass(frozen=True, slots=True)
class ThresholdLine:
    rule_id: str
    title: str
    metric: str
    comparison: str
    value: float
    clear_value: float | None
    severity: str
    dangerous: bool
    device_kinds: tuple[str, ...]
    version: str  # "default" or the override's "v<n>"
    source: str


def thresholds_in_effect(
    spec: ChartSpec,
    patient_id: str,
    overrides: Sequence[dict[str, Any]],
    rules: RuleSet = DEFAULT_RULES,
) -> list[ThresholdLine]:
    """One line per (threshold rule, metric of this chart), with the patient's latest override."""
    index = OverrideIndex(
        rules, [Override(patient_id, o["rule_id"], o["version"], o["params"]) for o in overrides]
    )
    lines = []
    for base in rules.thresholds:
        rule, version = index.rule_for(patient_id, base)
        for i, metric in enumerate(rule.metrics):
            if metric not in spec.metrics:
                continue
            clear = rule.clear_thresholds[i] if rule.clear_thresholds else None
            lines.append(
                ThresholdLine(rule.id, rule.title, metric, rule.comparison.value,
                              rule.thresholds[i], clear, rule.severity.value, rule.dangerous,
                              tuple(sorted(rule.device_kinds)), version, rule.source)
            )  # fmt: skip
    return lines
