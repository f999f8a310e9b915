"""The pattern rule tables: trends over days, CGM forecasts, SpO2 desaturation areas, personal
anomalies, NEWS2 and device silence (DESIGN 4). None of them fires on a single value dangerous
on its own. Pure data: the spec types are in `rule_specs.py`.
"""

from __future__ import annotations

from types import MappingProxyType

from stream.detections import Severity, Worse
from stream.rule_sources import DEXCOM_ULS, ESC_HF, ESH_HOME, KALMAN, NELLCOR, NHS_OXI, RCP
from stream.rule_specs import (
    AnomalyRule,
    DesaturationRule,
    GlucoseForecastRule,
    News2Rule,
    SilenceRule,
    TrendRule,
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
        "Glucose likely below 70 mg/dL within 40 min",
        "predicted_low",
        Severity.HIGH,
        f"Dexcom and Medtronic predictive low alerts; {KALMAN}",
        horizon_s=40 * 60.0,
        probability=0.5,
        clear_probability=0.2,
        min_fall_mg_dl_min=0.6,
        persistence_n=2,
        quiet_while=("glucose.level2_low", "glucose.level1_low"),
    ),
    GlucoseForecastRule(
        "glucose.urgent_low_soon",
        "Glucose likely below 54 mg/dL within 20 min (urgent low soon)",
        "predicted_low",
        Severity.HIGH,
        f"{DEXCOM_ULS}; {KALMAN}",
        below_mg_dl=54.0,
        horizon_s=20 * 60.0,
        probability=0.5,
        clear_probability=0.2,
        min_fall_mg_dl_min=0.6,
        persistence_n=2,
        quiet_while=("glucose.level2_low",),
    ),
    GlucoseForecastRule(
        "glucose.falling_fast",
        "Glucose falling faster than 3 mg/dL/min",
        "falling_fast",
        Severity.MODERATE,
        "CGM trend arrows (>= 3 mg/dL/min: rapidly falling), Battelino et al. 2019",
    ),
)

DESATURATION_RULES: tuple[DesaturationRule, ...] = (
    DesaturationRule(
        "spo2.desaturation",
        "SpO2 desaturation: 4 minutes below 94 %, deep enough (area)",
        "spo2",
        limit=94.0,
        area=450.0,
        reset_at=95.0,
        min_readings=4,
        severity=Severity.HIGH,
        source=f"{NELLCOR}; {NHS_OXI}",
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
