"""The threshold rule table (DESIGN 4 and 10): limits in canonical units, each citing its source.

The IMMEDIATE rules are the values dangerous on their own (level 2 hypoglycaemia, a blood
pressure in the crisis range): they fire on arrival and their detections carry
`dangerous=True`. SpO2 at or below 88 % is dangerous once sustained (4 readings, 3 minutes, at a
wearable's 1-minute cadence: a wrist oximeter's motion artefacts last 1-3 readings; on two
readings in a row they paged ~2.6 times per patient-day in `vigil bench quality`, issue 12);
a shallower desaturation pages by its area (`rule_patterns.DESATURATION_RULES`). The others
wait for persistence or confirmation. Pure data: the spec types are in `rule_specs.py`; a
patient's override replaces a rule's limits (`overrides.py`).
"""

from __future__ import annotations

from stream.detections import Severity
from stream.rule_sources import ACC_AHA, ADA, BATTELINO, BTS_O2, NHS_OXI, RCP
from stream.rule_specs import Comparison, ThresholdRule, Timing

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
        "spo2.severe",
        "SpO2 at or below 88 % for 3 minutes (4 readings)",
        ("spo2",),
        Comparison.AT_MOST,
        (88.0,),
        Severity.HIGH,
        Timing.PERSISTENT,
        BTS_O2,
        persistence_n=4,
        within_s=210.0,
        clear_thresholds=(92.0,),
        clear_n=2,
        sustained_dangerous=True,
    ),
    ThresholdRule(
        "spo2.review",
        "SpO2 93-94 % persisting (10 of 15 minutes)",
        ("spo2",),
        Comparison.AT_MOST,
        (94.0,),
        Severity.MODERATE,
        Timing.PERSISTENT,
        NHS_OXI,
        persistence_n=10,
        within_s=900,
        clear_thresholds=(94.0,),
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
