"""The rule spec types: what each kind of detector is parameterised by. Pure.

Each spec is a frozen dataclass validated in `__post_init__`; the tables of rules built from
them are in `rule_thresholds.py` and `rule_patterns.py`, and `rules.py` assembles them into a
`RuleSet`. Thresholds are in canonical units (`ingest.contract.METRICS`).

A spec also says whether the values it fires on are dangerous on their own (`dangerous`): only a
threshold rule with IMMEDIATE timing is, and its detections carry `dangerous=True`, so alerts
never silence or snooze them (DESIGN 4 and 5). Must not: evaluate rules (see `evaluate.py`)
or hold per-patient state.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import ClassVar

from ingest.contract import METRICS
from stream.detections import Severity, Worse


class Comparison(StrEnum):
    AT_LEAST = ">="
    ABOVE = ">"
    AT_MOST = "<="
    BELOW = "<"


class Timing(StrEnum):
    IMMEDIATE = "immediate"
    PERSISTENT = "persistent"
    CONFIRMED = "confirmed"


COMPARE: Mapping[Comparison, Callable[[float, float], bool]] = MappingProxyType(
    {
        Comparison.AT_LEAST: operator.ge,
        Comparison.ABOVE: operator.gt,
        Comparison.AT_MOST: operator.le,
        Comparison.BELOW: operator.lt,
    }
)
WORSE: Mapping[Comparison, Worse] = MappingProxyType(
    {
        Comparison.AT_LEAST: Worse.HIGHER,
        Comparison.ABOVE: Worse.HIGHER,
        Comparison.AT_MOST: Worse.LOWER,
        Comparison.BELOW: Worse.LOWER,
    }
)
# The clear band of a high rule is "below clear_threshold"; of a low rule "above" it.
CLEARED: Mapping[Worse, Callable[[float, float], bool]] = MappingProxyType(
    {Worse.HIGHER: operator.lt, Worse.LOWER: operator.gt}
)


@dataclass(frozen=True, slots=True)
class ThresholdRule:
    id: str
    title: str
    metrics: tuple[str, ...]
    comparison: Comparison
    thresholds: tuple[float, ...]  # one per metric, canonical units
    severity: Severity
    timing: Timing
    source: str
    persistence_n: int = 1
    within_s: float = 0.0
    clear_thresholds: tuple[float, ...] = ()  # hysteresis band; () = the thresholds themselves
    clear_n: int = 1
    device_kinds: frozenset[str] = frozenset()  # empty: any device
    # A PERSISTENT rule whose sustained values are dangerous on their own (SpO2 <= 88 % on two
    # readings in a row): it fires at finalisation, and its alerts are never silenced or snoozed.
    sustained_dangerous: bool = False

    def __post_init__(self) -> None:
        if self.sustained_dangerous and self.timing is not Timing.PERSISTENT:
            raise ValueError(f"{self.id}: only a persistent rule is dangerous when sustained")
        if any(m not in METRICS for m in self.metrics) or len(self.thresholds) != len(self.metrics):
            raise ValueError(f"{self.id}: one known metric per threshold")
        if self.clear_thresholds and len(self.clear_thresholds) != len(self.metrics):
            raise ValueError(f"{self.id}: one clear threshold per metric")
        if self.timing is not Timing.IMMEDIATE and self.within_s <= 0:
            raise ValueError(f"{self.id}: persistent and confirmed rules need a time window")
        for value, clear in zip(self.thresholds, self.clear_thresholds, strict=False):
            if not CLEARED[self.worse](clear, value) and clear != value:
                raise ValueError(f"{self.id}: the clear band must lie inside the normal side")

    @property
    def worse(self) -> Worse:
        return WORSE[self.comparison]

    @property
    def dangerous(self) -> bool:
        """A value beyond the threshold is dangerous on its own: it fires at once, on arrival,
        and its alert is never silenced or snoozed (ADA level 2 low, BP > 180/120); or, for
        `sustained_dangerous`, once it persists (SpO2 <= 88 % on two readings in a row)."""
        return self.timing is Timing.IMMEDIATE or self.sustained_dangerous

    def applies(self, metric: str, device_kind: str) -> bool:
        return metric in self.metrics and (
            not self.device_kinds or device_kind in self.device_kinds
        )


@dataclass(frozen=True, slots=True)
class TrendRule:
    """Change over days. `gain`: value minus the minimum of the previous `span_s` reaches
    `delta` (weight gain). `drift`: the mean of the last `span_s` exceeds the median of the
    daily means of the `baseline_days` before it by `delta`, and is at least `floor`."""

    dangerous: ClassVar[bool] = False  # never a single value dangerous on its own

    id: str
    title: str
    metric: str
    mode: str  # "gain" or "drift"
    delta: float
    span_s: float
    severity: Severity
    source: str
    baseline_days: int = 28
    floor: float = 0.0
    min_readings: int = 2


@dataclass(frozen=True, slots=True)
class GlucoseForecastRule:
    """CGM glucose from the stream's Kalman filter (stream/kalman.py).

    `predicted_low` (and `urgent_low_soon`, the same test at its own limit and horizon): the
    probability that true glucose is below `below_mg_dl` within `horizon_s` is at least
    `probability`, while the filtered level is still at or above `below_mg_dl` (below it the
    level rules speak) and the filtered rate is a fall of at least `min_fall_mg_dl_min`, at
    `persistence_n` readings in a row, and no alert of `quiet_while` is open on the stream. It
    clears once the probability is below `clear_probability`, or the filtered level is at or
    above `below_mg_dl` and no longer falling. `falling_fast`: the filtered rate
    at or below `rate_mg_dl_min`."""

    dangerous: ClassVar[bool] = False  # never a single value dangerous on its own

    id: str
    title: str
    mode: str  # "predicted_low" or "falling_fast"
    severity: Severity
    source: str
    below_mg_dl: float = 70.0
    horizon_s: float = 1800.0
    probability: float = 0.5
    clear_probability: float = 0.2
    rate_mg_dl_min: float = -3.0
    min_fall_mg_dl_min: float = 0.0
    persistence_n: int = 1
    quiet_while: tuple[str, ...] = ()
    device_kinds: frozenset[str] = frozenset({"cgm"})

    def __post_init__(self) -> None:
        if not 0 < self.clear_probability <= self.probability < 1 or self.min_fall_mg_dl_min < 0:
            raise ValueError(f"{self.id}: 0 < clear_probability <= probability < 1, fall >= 0")
        if self.persistence_n < 1:
            raise ValueError(f"{self.id}: persistence_n >= 1")


@dataclass(frozen=True, slots=True)
class DesaturationRule:
    """SpO2 desaturation by its area, in the spirit of Nellcor SatSeconds: the area between
    `limit` and the readings below it (%-seconds: a trapezoid between each two consecutive
    readings that are both below the limit) fires the rule once it reaches `area`; a reading at
    or above `reset_at`, or a gap longer than `max_gap_s`, starts the area afresh. A single
    reading below the limit has no duration, so a lone motion artefact adds nothing; and the
    rule waits for `min_readings` readings in a row below the limit, longer than a wrist
    oximeter's motion artefacts last. Clears after `clear_n` readings in a row at or above
    `reset_at`."""

    dangerous: ClassVar[bool] = False  # the sustained severe level is its own rule

    id: str
    title: str
    metric: str
    limit: float
    area: float
    reset_at: float
    severity: Severity
    source: str
    max_gap_s: float = 300.0
    clear_n: int = 2
    min_readings: int = 1

    def __post_init__(self) -> None:
        if self.reset_at < self.limit or self.area <= 0 or min(self.clear_n, self.min_readings) < 1:
            raise ValueError(f"{self.id}: reset_at >= limit, area > 0, clear_n >= 1")


@dataclass(frozen=True, slots=True)
class AnomalyRule:
    """Robust z-score (x - median) / (1.4826 MAD) of the patient's own baseline beyond
    `z`, and the absolute deviation beyond the clinical floor `floor` (so a very stable
    patient is not paged for a clinically trivial change)."""

    dangerous: ClassVar[bool] = False  # never a single value dangerous on its own

    id: str
    title: str
    metric: str
    z: float
    floor: float
    direction: Worse | None  # None: both directions
    min_days: int
    severity: Severity
    source: str


@dataclass(frozen=True, slots=True)
class News2Rule:
    """NEWS2 over the vitals a home kit provides, at aggregate >= `aggregate_at_least` or a
    single parameter scoring `single_parameter` (0: not used)."""

    dangerous: ClassVar[bool] = False  # never a single value dangerous on its own

    id: str
    title: str
    aggregate_at_least: int
    single_parameter: int
    severity: Severity
    source: str
    freshness_s: float = 3600.0


@dataclass(frozen=True, slots=True)
class SilenceRule:
    """No reading from a device for longer than `limits_s[kind]` (else 3x its cadence)."""

    dangerous: ClassVar[bool] = False  # never a single value dangerous on its own

    id: str
    title: str
    limits_s: Mapping[str, float]
    severity: Severity
    source: str
    cadence_factor: float = 3.0
