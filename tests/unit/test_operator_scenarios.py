"""Clinical scenarios through the stream operator: input readings -> expected detections (or none).

Each case names the clinical situation, the readings (times in minutes), and exactly which rules
must fire (and, where it matters, at which reading and on which metric). `rules_fired` lists the
non-late FIRED rules; a scenario that must stay quiet expects the empty set.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ingest.bound import BoundMessage
from ingest.contract import decode
from stream.core import StreamCore
from stream.detections import Kind
from stream.overrides import Override, OverrideIndex
from stream.rules import DEFAULT_RULES
from tests.unit.scenarios import At, bp, cleared, fired, operator, rules_fired, run, series

CGM = "cgm-1"


# --- blood pressure -----------------------------------------------------------------------------


def test_crisis_confirmed_by_a_re_measure() -> None:
    found = run([bp(0, 0, 196, 124), bp(1, 5, 192, 118)])
    assert fired(found) == {
        ("bp.crisis_suspected", 0, "systolic_bp"),
        ("bp.crisis_suspected", 0, "diastolic_bp"),
        ("bp.crisis_suspected", 1, "systolic_bp"),  # every crisis value is reported at once
        ("bp.crisis", 1, "systolic_bp"),  # the re-measure confirms SBP; DBP 118 refutes DBP
    }
    crisis = next(d for d in found if d.rule_id == "bp.crisis")
    assert crisis.detail("confirmation") == "confirmed" and crisis.detail("first_value") == 196


def test_a_single_noisy_spike_pages_nobody() -> None:
    found = run([bp(0, 0, 186, 92), bp(1, 5, 148, 88)])
    assert rules_fired(found) == {"bp.crisis_suspected"}  # tier 1: the re-measure prompt only
    assert cleared(found) == {("bp.crisis_suspected", 1, "systolic_bp")}  # refuted


def test_an_unconfirmable_crisis_fires_when_no_re_measure_comes() -> None:
    quiet = run([bp(0, 0, 190, 100)], ticks_at_min=[14])
    assert "bp.crisis" not in rules_fired(quiet)  # 14 min: still waiting for the re-measure
    found = run([bp(0, 0, 190, 100)], ticks_at_min=[16])
    assert ("bp.crisis", 0, "systolic_bp") in fired(found)
    assert (
        next(d for d in found if d.rule_id == "bp.crisis").detail("confirmation") == "unconfirmable"
    )


@pytest.mark.parametrize(
    ("readings", "expected"),
    [
        ([bp(0, 0, 135, 85), bp(1, 720, 138, 88)], set()),
        # no re-measure within 15 min: the first value stands (unconfirmable), the next waits
        ([bp(0, 0, 181, 100), bp(1, 30, 150, 100)], {"bp.crisis_suspected", "bp.crisis"}),
        (
            [bp(0, 0, 150, 121), bp(1, 4, 150, 125)],
            {"bp.crisis_suspected", "bp.crisis"},
        ),  # DBP alone
    ],
    ids=["normal", "remeasure-outside-window", "diastolic-crisis"],
)
def test_bp_scenarios(readings: list[At], expected: set[str]) -> None:
    assert rules_fired(run(readings)) == expected


def test_bp_drifting_up_over_a_week() -> None:
    days = [bp(i, i * 720, 126 + (i % 3), 80) for i in range(56)]  # 4 weeks, twice a day
    week = [bp(100 + i, 56 * 720 + i * 720, 142 + (i % 2), 88) for i in range(14)]
    found = run(days + week)
    assert "bp.drift_up" in rules_fired(found)
    assert "bp.drift_up" not in rules_fired(run(days))


# --- glucose ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([110, 108, 52], {"glucose.level2_low"}),  # < 54: level 2, fires at once
        ([110, 66, 112], set()),  # one reading below 70: not a level-1 event
        ([69, 67, 66], {"glucose.level1_low"}),  # three below 70 within 11 min: level 1
        ([68, 60, 55, 53], {"glucose.level1_low", "glucose.level2_low"}),
    ],
    ids=["level2", "single-dip", "level1", "level1-then-level2"],
)
def test_hypoglycaemia_levels(values: list[float], expected: set[str]) -> None:
    assert rules_fired(run(series(CGM, "cgm", "glucose", values, 5))) == expected


@pytest.mark.parametrize(
    "values",
    [
        [150, 141, 131, 120, 110, 99, 90, 80, 72, 66],  # about -2 mg/dL/min
        [125, 120, 115, 110, 105, 100, 95, 90, 85, 80, 75, 70, 66, 62],  # -1 mg/dL/min
    ],
    ids=["fall-2-per-min", "fall-1-per-min"],
)
def test_falling_cgm_predicts_a_low_before_it_happens(values: list[float]) -> None:
    readings = series(CGM, "cgm", "glucose", values, 5)
    found = run(readings)
    predicted = min(
        d.seq for d in found if d.rule_id == "glucose.predicted_low" and d.kind is Kind.FIRED
    )
    first_low = next(i for i, r in enumerate(readings) if r.values[0][1] < 70)
    assert (first_low - predicted) * 5 >= 15  # at least 15 minutes of warning
    assert "glucose.falling_fast" not in rules_fired(found)  # under 3 mg/dL/min: not "fast"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        # a slow drift (about 0.3 mg/dL/min) that bottoms out at 75: a near miss, no page
        ([96, 94, 93, 91, 89, 88, 86, 85, 83, 82, 80, 79, 78, 77, 76, 75, 75, 75, 76], set()),
        # one low reading in a steady trace: a prediction must hold on two readings in a row
        ([86, 85, 84, 86, 85, 74, 84, 85, 86, 85], set()),
        # treated level-1 low, a rebound that does not clear it (two readings above 80), a new
        # dip: the open level-1 alert already pages it; no predicted-low alert on top
        ([66, 64, 62, 72, 86, 80, 90, 80, 88, 80, 84, 78, 75, 72, 70], {"glucose.level1_low"}),
    ],
    ids=["near-miss-bottoms-at-75", "single-low-glitch", "dip-while-level1-open"],
)
def test_predicted_low_stays_quiet(values: list[float], expected: set[str]) -> None:
    assert rules_fired(run(series(CGM, "cgm", "glucose", values, 5))) == expected


def test_a_compression_artefact_is_not_forecast_into_a_low() -> None:
    # a sudden 40 mg/dL drop in 5 minutes is not physiology (sensor squeezed at night)
    found = run(series(CGM, "cgm", "glucose", [128, 126, 127, 125, 85, 88, 124, 126], 5))
    assert rules_fired(found) == set()


@pytest.mark.parametrize(
    ("unit", "value", "expected"),
    [("mmol/L", 2.9, {"glucose.level2_low", "glucose.level1_low_meter"}),
     ("mg/dL", 52, {"glucose.level2_low", "glucose.level1_low_meter"}),
     ("mmol/L", 3.5, {"glucose.level1_low_meter"}), ("mg/dL", 63, {"glucose.level1_low_meter"}),
     ("mmol/L", 5.5, set()), ("mg/dL", 99, set())],
)  # fmt: skip
def test_meter_readings_in_either_unit(unit: str, value: float, expected: set[str]) -> None:
    received = datetime(2026, 11, 2, 8, 0, 5, tzinfo=UTC)
    payload = f'{{"v":1,"device_id":"glu-1","seq":1,"ts":"2026-11-02T08:00:00Z","readings":[{{"metric":"glucose","value":{value},"unit":"{unit}"}}]}}'
    (message,) = decode("vigil/v1/devices/glu-1/readings", payload.encode(), received).messages
    core = StreamCore(operator())
    found = core.process(
        [BoundMessage("p1", message, "glucometer", 21600.0)], received.timestamp()
    ).detections
    found += core.tick(received.timestamp() + 60).detections
    assert rules_fired(found) == expected


# --- oxygen, heart rate, NEWS2, anomaly ------------------------------------------------------------


def wearable(seq: int, minutes: float, hr: float, spo2: float) -> At:
    return At("watch", "wearable", seq, minutes, (("heart_rate", hr), ("spo2", spo2)))


@pytest.mark.parametrize(
    ("spo2", "expected"),
    [
        # <= 88 for 3 minutes (4 readings): dangerous, and deep enough for the area rule
        ([97, 88, 87, 86, 88, 97], {"spo2.severe", "spo2.desaturation"}),
        # a motion artefact: 1-3 readings 5-15 points low, no page (issue 12)
        ([97, 86, 97, 96], set()),
        ([97, 84, 80, 86, 97, 96], set()),
        # 4 minutes at 90-91: area (94 - 90.5) x 60 x 3 = 630 %-s >= 450, 4 readings below 94
        ([97, 91, 90, 91, 90, 97], {"spo2.desaturation"}),
        # 5 minutes at 93: 5 readings below 94 but an area of 240 %-s, NHS "review" territory
        ([97, 93, 93, 93, 93, 93, 97], set()),
        ([95, 94, 94, 93, 94, 94, 93, 94, 94, 94, 93, 95], {"spo2.review"}),
        ([96, 94, 97, 96], set()),
    ],
    ids=[
        "severe-sustained",
        "one-86",
        "artefact-3-readings",
        "desaturation-area",
        "shallow-93",
        "review-persisting",
        "one-94",
    ],
)
def test_oxygen_saturation(spo2: list[float], expected: set[str]) -> None:
    found = run([wearable(i, i, 72, v) for i, v in enumerate(spo2)])
    # (NEWS2 scores a single SpO2 <= 91 as a red parameter: a tier-1 prompt, not a page)
    assert {r for r in rules_fired(found) if r.startswith("spo2.")} == expected


def test_news2_from_a_home_kit_with_missing_parameters_explicit() -> None:
    readings = [wearable(i, i, 135, 91) for i in range(3)] + [bp(0, 1.5, 95, 60, hr=134)]
    found = run(readings)
    news = [d for d in found if d.rule_id == "news2.high"]
    assert news, rules_fired(found)
    assert news[0].detail("aggregate") == 8.0  # HR >= 131: 3, SpO2 <= 91: 3, SBP 91-100: 2
    assert news[0].detail("partial") == "true"
    assert "respiratory_rate" in str(news[0].detail("missing"))
    assert "consciousness" in str(news[0].detail("missing"))


def test_personal_anomaly_needs_a_baseline_and_a_clinical_floor() -> None:
    history = [wearable(i, i * 120, 68 + (i % 5), 97) for i in range(8 * 12)]  # 8 days, every 2 h
    jump = [wearable(1000, 8 * 1440 + 10, 104, 97)]  # +34/min over a ~70 baseline
    small = [wearable(1000, 8 * 1440 + 10, 84, 97)]  # +14: large z, below the 25/min floor
    assert "anomaly.heart_rate" in rules_fired(run(history + jump))
    assert "anomaly.heart_rate" not in rules_fired(run(history + small))
    assert "anomaly.heart_rate" not in rules_fired(run(history[:24] + jump))  # 2 days: no baseline


# --- weight, silence ------------------------------------------------------------------------------


def test_heart_failure_weight_gain_within_three_days() -> None:
    gain = series("scale", "scale", "weight", [80.0, 80.6, 81.4, 82.1], 1440 * 0.95)
    slow = series(
        "scale", "scale", "weight", [80.0, 80.3, 80.6, 80.9, 81.2, 81.5, 81.8, 82.1], 1440
    )
    assert "weight.gain_3d" in rules_fired(run(gain))
    assert "weight.gain_3d" not in rules_fired(run(slow))  # 2.1 kg over a week is not the signal


def test_a_silent_cgm_is_noticed_and_cleared_when_data_resumes() -> None:
    core = StreamCore(operator())
    first = series(CGM, "cgm", "glucose", [120, 121, 119], 5)
    found = run(first, core=core, final_tick=False)
    found += core.tick((first[-1].bound().message.received_at).timestamp() + 16 * 60).detections
    assert ("device.silent", 2, "") in fired(found)
    again = run([At(CGM, "cgm", 3, 40, (("glucose", 118.0),))], core=core, final_tick=False)
    assert ("device.silent", 3, "") in cleared(again)


# --- event time: out of order, late, duplicates -------------------------------------------------


def test_out_of_order_within_the_lateness_gives_the_in_order_detections() -> None:
    in_order = [bp(0, 0, 196, 124), bp(1, 1, 192, 118), bp(2, 1.5, 150, 90)]
    shuffled = [in_order[2], in_order[0], in_order[1]]
    assert {d.id for d in run(in_order)} == {d.id for d in run(shuffled)}


def test_a_late_reading_is_flagged_and_only_a_dangerous_value_is_reported() -> None:
    core = StreamCore(operator())
    run(series(CGM, "cgm", "glucose", [110, 112, 111], 5), core=core)  # flushed by the tick
    late = run([At(CGM, "cgm", 10, 3, (("glucose", 50.0),), delay_s=3600),
                At(CGM, "cgm", 11, 4, (("glucose", 66.0),), delay_s=3600)], core=core)  # fmt: skip
    assert fired(late, late=True) == {("glucose.level2_low", 10, "glucose")}  # reaches a clinician
    assert fired(late) == set()  # but pages nobody, and persistence ignores late readings


def test_duplicates_change_nothing() -> None:
    readings = series(CGM, "cgm", "glucose", [69, 67, 52, 66], 5)
    once = run(readings)
    twice = run([r for r in readings for _ in (0, 1)])
    assert sorted(d.id for d in once) == sorted(d.id for d in twice)
    assert len(twice) == len(once)


# --- overrides ------------------------------------------------------------------------------------


def test_a_patient_override_applies_to_that_patient_only_and_is_named() -> None:
    overrides = OverrideIndex(
        DEFAULT_RULES, [Override("p1", "glucose.level2_low", 3, {"thresholds": [60.0]})]
    )
    op = operator(overrides)
    mine = run(series(CGM, "cgm", "glucose", [100, 58], 5), op=op)
    other = [
        At(CGM, "cgm", i, i * 5, (("glucose", v),), patient="p2") for i, v in enumerate([100, 58])
    ]
    theirs = run(other, op=op)
    assert "glucose.level2_low" in rules_fired(mine)
    assert next(d for d in mine if d.rule_id == "glucose.level2_low").rule_version == "v3"
    assert "glucose.level2_low" not in rules_fired(theirs)
