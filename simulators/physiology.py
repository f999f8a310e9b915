"""Per-patient physiology: true values over time, before any device noise.

Deliberately simple and seeded: each patient has baselines drawn once; values follow a daily
rhythm (BP and heart rate higher by day) plus, for glucose, meal excursions. A `Scenario`
overlays episodes (e.g. a hypertensive crisis) on top. The true value is the ground truth the
detection-quality benchmark scores against; `measure` adds the device's error.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime

_DAY_S = 86_400.0

# Measurement error (one SD) and resolution per metric, typical of validated home devices.
NOISE_SD = {
    "systolic_bp": 5.0,
    "diastolic_bp": 4.0,
    "heart_rate": 2.0,
    "spo2": 1.0,
    "glucose": 0.08,  # relative (8 %), CGM/meter MARD territory
    "weight": 0.15,
    "respiratory_rate": 1.0,
    "body_temperature": 0.1,
}


@dataclass(frozen=True, slots=True)
class Baseline:
    systolic_bp: float
    diastolic_bp: float
    heart_rate: float
    spo2: float
    glucose: float
    weight: float


def baseline_for(patient_index: int, seed: int) -> Baseline:
    rng = random.Random(f"{seed}:{patient_index}")
    sbp = rng.gauss(134.0, 12.0)
    return Baseline(
        systolic_bp=sbp,
        diastolic_bp=sbp * 0.62 + rng.gauss(0.0, 4.0),
        heart_rate=rng.gauss(74.0, 7.0),
        spo2=min(98.5, rng.gauss(96.5, 0.8)),
        glucose=rng.gauss(140.0, 20.0) if patient_index % 3 != 2 else rng.gauss(100.0, 8.0),
        weight=rng.gauss(80.0, 14.0),
    )


def _circadian(t: datetime) -> float:
    """-1 at 03:00, +1 at 15:00 (UTC; good enough for a simulation)."""
    s = t.hour * 3600 + t.minute * 60 + t.second
    return math.sin(2 * math.pi * (s / _DAY_S - 0.375))


def _meal_excursion(t: datetime) -> float:
    """Glucose rise (mg/dL) after meals at 07:30, 12:30 and 18:30: up within an hour, down by 3."""
    h = t.hour + t.minute / 60
    rise = 0.0
    for meal in (7.5, 12.5, 18.5):
        dt = h - meal
        if 0 <= dt < 3:
            rise += 60.0 * (dt / 0.75) * math.exp(1 - dt / 0.75)
    return rise


def true_value(b: Baseline, metric: str, t: datetime) -> float:
    c = _circadian(t)
    values = {
        "systolic_bp": b.systolic_bp + 6.0 * c,
        "diastolic_bp": b.diastolic_bp + 4.0 * c,
        "heart_rate": b.heart_rate + 5.0 * c,
        "spo2": b.spo2,
        "glucose": b.glucose + _meal_excursion(t),
        "weight": b.weight,
    }
    return values[metric]


def measure(metric: str, true: float, rng: random.Random) -> float:
    sd = NOISE_SD[metric]
    if metric == "glucose":
        return true * (1.0 + rng.gauss(0.0, sd))
    return true + rng.gauss(0.0, sd)
