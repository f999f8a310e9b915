"""The rule table: every detector is a declarative spec citing its clinical source (DESIGN 10).

This module assembles the tables into a `RuleSet` (`DEFAULT_RULES`) and is where the rest of the
code imports rules from. The pieces, all pure:

- `rule_specs.py`: the spec types (`ThresholdRule`, `TrendRule`, `GlucoseForecastRule`,
  `DesaturationRule`, `AnomalyRule`, `News2Rule`, `SilenceRule`) and the comparison maps;
- `rule_thresholds.py`: `THRESHOLD_RULES`; `rule_patterns.py`: the trend, forecast,
  desaturation, anomaly, NEWS2 and silence tables; `rule_sources.py`: the guidelines they cite;
- `kalman.py`: the CGM filter the forecast rules read (`RuleSet.glucose_filter`: its settings).

Threshold rules and when they are evaluated (see `operator.py`):

- timing IMMEDIATE: a value dangerous on its own (`ThresholdRule.dangerous`); evaluated when the
  reading arrives, whatever its order, and never suppressed by noise controls, silences or
  snoozes (its detections carry `dangerous=True`).
- timing PERSISTENT: fires when `persistence_n` readings of the stream are out of range within
  `within_s` (one noisy reading pages nobody); clears with hysteresis, after `clear_n` readings
  back inside the narrower `clear_threshold`.
- timing CONFIRMED: a second out-of-range reading within `within_s` confirms; an in-range
  re-measure refutes; no re-measure at all fires as "unconfirmable" after `within_s`.

Thresholds are in canonical units. A patient's override (versioned, in the database) replaces a
threshold rule's `threshold`, `clear_threshold` or persistence for that patient only; it never
changes a rule's timing, so never whether it is dangerous. Must not: evaluate anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stream.kalman import DEFAULT_FILTER, FilterSettings
from stream.rule_patterns import (
    ANOMALY_RULES,
    DESATURATION_RULES,
    FORECAST_RULES,
    NEWS2_RULES,
    SILENCE_RULES,
    TREND_RULES,
)
from stream.rule_specs import (
    CLEARED,
    COMPARE,
    WORSE,
    AnomalyRule,
    Comparison,
    DesaturationRule,
    GlucoseForecastRule,
    News2Rule,
    SilenceRule,
    ThresholdRule,
    Timing,
    TrendRule,
)
from stream.rule_thresholds import THRESHOLD_RULES

__all__ = [
    "ANOMALY_RULES",
    "CLEARED",
    "COMPARE",
    "DEFAULT_RULES",
    "DESATURATION_RULES",
    "FORECAST_RULES",
    "NEWS2_RULES",
    "SILENCE_RULES",
    "THRESHOLD_RULES",
    "TREND_RULES",
    "WORSE",
    "AnomalyRule",
    "Comparison",
    "DesaturationRule",
    "GlucoseForecastRule",
    "News2Rule",
    "RuleSet",
    "SilenceRule",
    "ThresholdRule",
    "Timing",
    "TrendRule",
]


@dataclass(frozen=True, slots=True)
class RuleSet:
    thresholds: tuple[ThresholdRule, ...] = THRESHOLD_RULES
    trends: tuple[TrendRule, ...] = TREND_RULES
    forecasts: tuple[GlucoseForecastRule, ...] = FORECAST_RULES
    desaturations: tuple[DesaturationRule, ...] = DESATURATION_RULES
    anomalies: tuple[AnomalyRule, ...] = ANOMALY_RULES
    news2: tuple[News2Rule, ...] = NEWS2_RULES
    silence: tuple[SilenceRule, ...] = SILENCE_RULES
    glucose_filter: FilterSettings = DEFAULT_FILTER  # the CGM filter of the forecast rules
    _by_metric: dict[str, tuple[ThresholdRule, ...]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        ids = [
            r.id
            for group in (
                self.thresholds,
                self.trends,
                self.forecasts,
                self.desaturations,
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
