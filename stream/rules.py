"""The rule table: declarative threshold rules, each citing its clinical source (DESIGN 10).

This is the first slice of the detector set: single-reading thresholds, dispatched by metric
through a map rather than an if-ladder. Persistence, hysteresis, trends, prediction and anomaly
rules join this table as their own spec types.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from ingest.contract import METRICS
from stream.detections import Severity, Worse


class Comparison(StrEnum):
    AT_LEAST = ">="
    ABOVE = ">"
    AT_MOST = "<="
    BELOW = "<"


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


@dataclass(frozen=True, slots=True)
class ThresholdRule:
    id: str
    title: str
    metric: str
    comparison: Comparison
    threshold: float  # in the metric's canonical unit
    severity: Severity
    source: str

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ValueError(f"{self.id}: unknown metric {self.metric}")

    def matches(self, value: float) -> bool:
        return COMPARE[self.comparison](value, self.threshold)


THRESHOLD_RULES: tuple[ThresholdRule, ...] = (
    ThresholdRule(
        id="bp.systolic.crisis",
        title="Systolic blood pressure in the crisis range",
        metric="systolic_bp",
        comparison=Comparison.AT_LEAST,
        threshold=180.0,
        severity=Severity.CRITICAL,
        source="China National Basic Public Health Service spec, 3rd ed. (SBP >= 180 mmHg: "
        "emergency referral); ACC/AHA 2017 hypertensive crisis (SBP > 180 mmHg)",
    ),
)


def by_metric(rules: Sequence[ThresholdRule]) -> Mapping[str, tuple[ThresholdRule, ...]]:
    table: dict[str, tuple[ThresholdRule, ...]] = {}
    for rule in rules:
        table[rule.metric] = (*table.get(rule.metric, ()), rule)
    return MappingProxyType(table)
