"""The rule table: every detector is a declarative spec citing its clinical source (DESIGN 10).

Rule kinds and when they are evaluated (see `operator.py`):

- `ThresholdRule`, timing IMMEDIATE: a value dangerous on its own; evaluated when the reading
  arrives, whatever its order, and never suppressed by noise controls.
- `ThresholdRule`, timing PERSISTENT: fires when `persistence_n` readings of the stream are out
  of range within `within_s` (one noisy reading pages nobody); clears with hysteresis, after
  `clear_n` readings back inside the narrower `clear_threshold`.
- `ThresholdRule`, timing CONFIRMED: a second out-of-range reading within `within_s` confirms; an
  in-range re-measure refutes; no re-measure at all fires as "unconfirmable" after `within_s`.
- `TrendRule`, `GlucoseForecastRule`, `AnomalyRule`, `News2Rule`, `SilenceRule`: see their
  docstrings.

Thresholds are in canonical units. A patient's override (versioned, in the database) replaces a
threshold rule's `threshold`, `clear_threshold` or persistence for that patient only.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

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

    def __post_init__(self) -> None:
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

    def applies(self, metric: str, device_kind: str) -> bool:
        return metric in self.metrics and (
            not self.device_kinds or device_kind in self.device_kinds
        )


@dataclass(frozen=True, slots=True)
class TrendRule:
    """Change over days. `gain`: value minus the minimum of the previous `span_s` reaches
    `delta` (weight gain). `drift`: the mean of the last `span_s` exceeds the median of the
    daily means of the `baseline_days` before it by `delta`, and is at least `floor`."""

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
    """CGM glucose falling: predicted below `below_mg_dl` within `horizon_s` (see forecast.py),
    or falling faster than `rate_mg_dl_min` for the whole fit window.

    `predicted_low` fires only while the smoothed level is still at or above `below_mg_dl`, the
    fitted fall is at least `min_fall_mg_dl_min`, the prediction held at the last
    `persistence_n` readings in a row, and no alert of `quiet_while` is open on the same stream
    (the low itself is already paged). It clears once the prediction is `clear_margin_mg_dl`
    above `below_mg_dl`, so noise around the line does not re-open it."""

    id: str
    title: str
    mode: str  # "predicted_low" or "falling_fast"
    severity: Severity
    source: str
    below_mg_dl: float = 70.0
    horizon_s: float = 1800.0
    rate_mg_dl_min: float = -3.0
    min_fall_mg_dl_min: float = 0.0
    persistence_n: int = 1
    clear_margin_mg_dl: float = 20.0
    quiet_while: tuple[str, ...] = ()
    device_kinds: frozenset[str] = frozenset({"cgm"})

    def __post_init__(self) -> None:
        if self.persistence_n < 1 or self.min_fall_mg_dl_min < 0 or self.clear_margin_mg_dl < 0:
            raise ValueError(f"{self.id}: persistence >= 1, fall and clear margin >= 0")


@dataclass(frozen=True, slots=True)
class AnomalyRule:
    """Robust z-score (x - median) / (1.4826 MAD) of the patient's own baseline beyond
    `z`, and the absolute deviation beyond the clinical floor `floor` (so a very stable
    patient is not paged for a clinically trivial change)."""

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

    id: str
    title: str
    limits_s: Mapping[str, float]
    severity: Severity
    source: str
    cadence_factor: float = 3.0


ADA = "ADA Standards of Care in Diabetes 2024, section 6 (hypoglycaemia levels)"
BATTELINO = "Battelino et al., Diabetes Care 2019 (CGM targets; level-1 event: < 70 for >= 15 min)"
ACC_AHA = "Whelton et al., Hypertension 2018 (ACC/AHA): hypertensive crisis > 180/120, re-measure"
NHS_OXI = "NHS England, pulse oximetry to detect early deterioration at home (SpO2 <= 92 urgent)"
RCP = "Royal College of Physicians, NEWS2 (2017), chart 1 and clinical response table"
ESC_HF = "McDonagh et al., ESC heart-failure guidelines 2021: weight gain > 2 kg in 3 days"
ESH_HOME = "Stergiou et al., ESH 2021 home BP: hypertension at a home mean >= 135/85 mmHg"


THRESHOLD_RULES: tuple[ThresholdRule, ...] = (
    ThresholdRule(
        "glucose.level2_low",
        "Glucose below 54 mg/dL (level 2 hypoglycaemia)",
        ("glucose",),
        Comparison.BELOW,
        (54.0,),
        Severity.CRITICAL,
        Timing.IMMEDIATE,
        ADA,
    ),
    ThresholdRule(
        "glucose.level1_low",
        "Glucose below 70 mg/dL for 10 minutes (CGM)",
        ("glucose",),
        Comparison.BELOW,
        (70.0,),
        Severity.HIGH,
        Timing.PERSISTENT,
        BATTELINO,
        persistence_n=3,
        within_s=11 * 60,
        clear_thresholds=(80.0,),
        clear_n=2,
        device_kinds=frozenset({"cgm"}),
    ),
    ThresholdRule(
        "glucose.level1_low_meter",
        "Glucose below 70 mg/dL (meter)",
        ("glucose",),
        Comparison.BELOW,
        (70.0,),
        Severity.HIGH,
        Timing.PERSISTENT,
        ADA,
        persistence_n=1,
        within_s=60,
        clear_thresholds=(80.0,),
        device_kinds=frozenset({"glucometer"}),
    ),
    ThresholdRule(
        "glucose.high",
        "Glucose above 250 mg/dL",
        ("glucose",),
        Comparison.ABOVE,
        (250.0,),
        Severity.MODERATE,
        Timing.PERSISTENT,
        BATTELINO,
        persistence_n=2,
        within_s=3600,
        clear_thresholds=(220.0,),
        clear_n=2,
    ),
    ThresholdRule(
        "spo2.urgent",
        "SpO2 at or below 92 %",
        ("spo2",),
        Comparison.AT_MOST,
        (92.0,),
        Severity.HIGH,
        Timing.IMMEDIATE,
        NHS_OXI,
    ),
    ThresholdRule(
        "spo2.review",
        "SpO2 93-94 % persisting",
        ("spo2",),
        Comparison.AT_MOST,
        (94.0,),
        Severity.MODERATE,
        Timing.PERSISTENT,
        NHS_OXI,
        persistence_n=3,
        within_s=900,
        clear_thresholds=(96.0,),
        clear_n=3,
    ),
    ThresholdRule(
        "bp.crisis_suspected",
        "Blood pressure in the crisis range: re-measure",
        ("systolic_bp", "diastolic_bp"),
        Comparison.ABOVE,
        (180.0, 120.0),
        Severity.HIGH,
        Timing.IMMEDIATE,
        ACC_AHA,
    ),
    ThresholdRule(
        "bp.crisis",
        "Hypertensive crisis",
        ("systolic_bp", "diastolic_bp"),
        Comparison.ABOVE,
        (180.0, 120.0),
        Severity.CRITICAL,
        Timing.CONFIRMED,
        ACC_AHA,
        within_s=900,
        clear_thresholds=(160.0, 100.0),
    ),
    ThresholdRule(
        "hr.high",
        "Heart rate at or above 131/min persisting",
        ("heart_rate",),
        Comparison.AT_LEAST,
        (131.0,),
        Severity.HIGH,
        Timing.PERSISTENT,
        RCP,
        persistence_n=3,
        within_s=600,
        clear_thresholds=(111.0,),
        clear_n=3,
    ),
    ThresholdRule(
        "hr.low",
        "Heart rate at or below 40/min persisting",
        ("heart_rate",),
        Comparison.AT_MOST,
        (40.0,),
        Severity.HIGH,
        Timing.PERSISTENT,
        RCP,
        persistence_n=3,
        within_s=600,
        clear_thresholds=(50.0,),
        clear_n=3,
    ),
)

TREND_RULES: tuple[TrendRule, ...] = (
    TrendRule(
        "weight.gain_3d",
        "Weight gain of 2 kg or more within 3 days",
        "weight",
        "gain",
        2.0,
        3 * 86_400.0,
        Severity.HIGH,
        ESC_HF,
    ),
    TrendRule(
        "bp.drift_up",
        "Systolic pressure drifting up over the past week",
        "systolic_bp",
        "drift",
        10.0,
        7 * 86_400.0,
        Severity.MODERATE,
        ESH_HOME,
        floor=135.0,
        min_readings=6,
    ),
)

FORECAST_RULES: tuple[GlucoseForecastRule, ...] = (
    GlucoseForecastRule(
        "glucose.predicted_low",
        "Glucose predicted below 70 mg/dL within 45 min",
        "predicted_low",
        Severity.HIGH,
        "Dexcom 'urgent low soon' and Medtronic predictive alerts; model in stream/forecast.py",
        horizon_s=45 * 60.0,
        min_fall_mg_dl_min=0.4,
        persistence_n=2,
        quiet_while=("glucose.level2_low", "glucose.level1_low"),
    ),
    GlucoseForecastRule(
        "glucose.falling_fast",
        "Glucose falling faster than 3 mg/dL/min",
        "falling_fast",
        Severity.MODERATE,
        "CGM trend arrows (>= 3 mg/dL/min: rapidly falling), Battelino et al. 2019",
    ),
)

ANOMALY_RULES: tuple[AnomalyRule, ...] = (
    AnomalyRule(
        "anomaly.heart_rate",
        "Heart rate unusual for this patient",
        "heart_rate",
        4.0,
        25.0,
        None,
        7,
        Severity.MODERATE,
        "Iglewicz & Hoaglin 1993 (modified z-score > 3.5)",
    ),
    AnomalyRule(
        "anomaly.systolic_bp",
        "Systolic pressure unusual for this patient",
        "systolic_bp",
        4.0,
        25.0,
        Worse.HIGHER,
        7,
        Severity.MODERATE,
        "Iglewicz & Hoaglin 1993",
    ),
    AnomalyRule(
        "anomaly.spo2",
        "SpO2 unusually low for this patient",
        "spo2",
        4.0,
        3.0,
        Worse.LOWER,
        7,
        Severity.MODERATE,
        "Iglewicz & Hoaglin 1993; NHS oximetry SOP (a 3-point fall)",
    ),
)

NEWS2_RULES: tuple[News2Rule, ...] = (
    News2Rule("news2.high", "NEWS2 7 or more (emergency response)", 7, 0, Severity.CRITICAL, RCP),
    News2Rule("news2.medium", "NEWS2 5-6 (urgent response)", 5, 0, Severity.HIGH, RCP),
    News2Rule(
        "news2.red_parameter",
        "NEWS2 red score in a single parameter",
        99,
        3,
        Severity.MODERATE,
        RCP,
    ),
)

SILENCE_RULES: tuple[SilenceRule, ...] = (
    SilenceRule(
        "device.silent",
        "No readings from a device for longer than expected",
        MappingProxyType(
            {
                "cgm": 15 * 60.0,
                "wearable": 30 * 60.0,
                "bp_cuff": 36 * 3600.0,
                "glucometer": 24 * 3600.0,
                "scale": 48 * 3600.0,
            }
        ),
        Severity.MODERATE,
        "Nightscout stale-data defaults (CGM 15 min); program cadences",
    ),
)


@dataclass(frozen=True, slots=True)
class RuleSet:
    thresholds: tuple[ThresholdRule, ...] = THRESHOLD_RULES
    trends: tuple[TrendRule, ...] = TREND_RULES
    forecasts: tuple[GlucoseForecastRule, ...] = FORECAST_RULES
    anomalies: tuple[AnomalyRule, ...] = ANOMALY_RULES
    news2: tuple[News2Rule, ...] = NEWS2_RULES
    silence: tuple[SilenceRule, ...] = SILENCE_RULES
    _by_metric: dict[str, tuple[ThresholdRule, ...]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        ids = [
            r.id
            for group in (
                self.thresholds,
                self.trends,
                self.forecasts,
                self.anomalies,
                self.news2,
                self.silence,
            )
            for r in group
        ]
        if len(ids) != len(set(ids)):
            raise ValueError("rule ids must be unique")
        table: dict[str, tuple[ThresholdRule, ...]] = {}
        for rule in self.thresholds:
            for metric in rule.metrics:
                table[metric] = (*table.get(metric, ()), rule)
        self._by_metric.update(table)

    def thresholds_for(self, metric: str) -> tuple[ThresholdRule, ...]:
        return self._by_metric.get(metric, ())


DEFAULT_RULES = RuleSet()
