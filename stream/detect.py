"""Evaluate the rule table over bound device messages: pure, no I/O, no clock.

`ThresholdDetector.detect` returns one `Detection` per (reading, matching rule). It is stateless,
so duplicates yield identical detections (same ids), which the alert layer absorbs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ingest.bound import BoundMessage
from ingest.contract import DeviceMessage
from stream.detections import Detection, detection_id
from stream.rules import THRESHOLD_RULES, WORSE, ThresholdRule, by_metric


class ThresholdDetector:
    def __init__(self, rules: Sequence[ThresholdRule] = THRESHOLD_RULES) -> None:
        self._rules = by_metric(rules)

    def detect(self, messages: Iterable[BoundMessage]) -> list[Detection]:
        rules_for = self._rules.get
        found: list[Detection] = []
        for patient_id, message in messages:
            for m in message.measurements:
                for rule in rules_for(m.metric, ()):
                    if rule.matches(m.value):
                        found.append(_detection(rule, patient_id, message, m.value, m.unit))
        return found


def _detection(
    rule: ThresholdRule, patient_id: str, message: DeviceMessage, value: float, unit: str
) -> Detection:
    return Detection(
        id=detection_id(rule.id, patient_id, message.device_id, message.seq),
        rule_id=rule.id,
        title=rule.title,
        severity=rule.severity,
        worse=WORSE[rule.comparison],
        patient_id=patient_id,
        device_id=message.device_id,
        seq=message.seq,
        metric=rule.metric,
        value=value,
        unit=unit,
        measured_at=message.measured_at,
    )
