"""Values dangerous on their own (DESIGN 4, 5): the rule table says which they are, the operator
stamps it on every detection (`Detection.dangerous`), and alerts never silence or snooze them.

The clinical set is pinned here: level 2 hypoglycaemia (< 54 mg/dL, ADA) and a blood pressure in
the crisis range (> 180/120, ACC/AHA), each firing on arrival, and SpO2 at or below 88 % on four
readings in a row, 3 minutes (BTS; a wrist oximeter's motion artefacts last 1-3 readings,
issue 12).
Everything else waits for persistence, confirmation or a pattern, and is not.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from stream.detections import Detection, Kind, Severity, Worse, detection_id
from stream.rules import DEFAULT_RULES
from tests.unit.scenarios import At, bp, run, series

DANGEROUS_ON_THEIR_OWN = frozenset({"glucose.level2_low", "spo2.severe", "bp.crisis_suspected"})

FALLING_CGM = [110, 100, 90, 80, 68, 62, 58, 52, 50, 48, 60, 85, 95, 105, 110, 115]
SCENARIOS: dict[str, list[At]] = {  # rule id -> readings that make it fire (and mostly clear)
    "glucose.level2_low": series("cgm", "cgm", "glucose", FALLING_CGM, 5),
    "glucose.level1_low": series("cgm", "cgm", "glucose", FALLING_CGM, 5),
    "glucose.level1_low_meter": series("meter", "glucometer", "glucose", [65, 110, 115], 360),
    "glucose.high": series("cgm", "cgm", "glucose", [200, 260, 270, 280, 200, 190, 180], 5),
    "spo2.severe": series("ox", "wearable", "spo2", [97, 88, 87, 86, 88, 97, 98, 98], 1),
    "spo2.review": series("ox", "wearable", "spo2", [94] * 11 + [97, 97, 97, 97], 1),
    "bp.crisis_suspected": [bp(0, 0, 196, 124), bp(1, 5, 192, 118), bp(2, 10, 130, 80)],
    "bp.crisis": [bp(0, 0, 196, 124), bp(1, 5, 192, 118), bp(2, 10, 130, 80)],
    "hr.high": series("hr", "wearable", "heart_rate", [135] * 4 + [100] * 4, 1),
    "hr.low": series("hr", "wearable", "heart_rate", [38] * 4 + [60] * 4, 1),
}


def test_the_table_marks_exactly_the_values_dangerous_on_their_own() -> None:
    marked = {r.id for r in DEFAULT_RULES.thresholds if r.dangerous}
    assert marked == DANGEROUS_ON_THEIR_OWN
    patterns = (*DEFAULT_RULES.trends, *DEFAULT_RULES.forecasts, *DEFAULT_RULES.desaturations,
                *DEFAULT_RULES.anomalies,
                *DEFAULT_RULES.news2, *DEFAULT_RULES.silence)  # fmt: skip
    assert not any(r.dangerous for r in patterns)


def test_every_threshold_rule_has_a_scenario() -> None:
    assert set(SCENARIOS) == {r.id for r in DEFAULT_RULES.thresholds}


@pytest.mark.parametrize("rule_id", sorted(SCENARIOS))
def test_each_rules_detections_carry_its_dangerous_flag(rule_id: str) -> None:
    found = run(SCENARIOS[rule_id])
    mine = [d for d in found if d.rule_id == rule_id]
    assert any(d.kind is Kind.FIRED for d in mine), f"{rule_id} did not fire"
    assert {d.dangerous for d in mine} == {rule_id in DANGEROUS_ON_THEIR_OWN}
    for d in found:  # whatever else the readings set off
        assert d.dangerous is (d.rule_id in DANGEROUS_ON_THEIR_OWN), d.rule_id


def test_a_late_dangerous_value_is_still_marked_dangerous() -> None:
    on_time = [At("cgm", "cgm", i, i * 5.0, (("glucose", 120.0),)) for i in range(1, 8)]
    late = At("cgm", "cgm", 0, 0.0, (("glucose", 45.0),), delay_s=3600.0)  # an hour behind
    found = run([*on_time, late])
    [d] = [d for d in found if d.rule_id == "glucose.level2_low"]
    assert d.late and d.dangerous


def test_a_detection_must_say_whether_its_value_is_dangerous() -> None:
    """No default: a detection built without the flag must not pass as "not dangerous" (and so
    be snoozed or silenced) by omission."""
    fields = {f.name: f for f in dataclasses.fields(Detection)}
    assert fields["dangerous"].default is dataclasses.MISSING
    with pytest.raises(TypeError, match="dangerous"):
        Detection(  # type: ignore[call-arg]  # the point: the flag is missing
            id=detection_id("spo2.severe", "p1", "ox", 1, "spo2"), rule_id="spo2.severe",
            title="SpO2 urgent", severity=Severity.CRITICAL, worse=Worse.LOWER, patient_id="p1",
            device_id="ox", seq=1, metric="spo2", value=88.0, unit="%",
            measured_at=datetime(2025, 1, 1, tzinfo=UTC),
        )  # fmt: skip
