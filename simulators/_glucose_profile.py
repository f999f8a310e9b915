"""The glucose model's patients: a seeded profile per patient (`profile_for`), and the shared
pieces of the model (time steps, independent random streams). Pure; see `simulators/glucose.py`
for what the model is and is not.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from enum import IntEnum
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

DAY_S = 86_400.0
HOUR_S = 3600.0
MIN_S = 60.0


@dataclass(frozen=True, slots=True)
class GlucoseProfile:
    patient_index: int
    isf_mg_dl_per_u: float  # true fall per unit of insulin
    carb_ratio_g_per_u: float  # what the patient doses by
    carb_rise_mg_dl_per_g: float  # true rise per gram; != isf/carb_ratio means dosing bias
    basal_u_per_h: float  # delivered
    basal_need_u_per_h: float  # would hold glucose flat (sets EGP)
    target_mg_dl: float  # where glucose effectiveness pulls
    effectiveness_tau_min: float
    insulin_peak_min: float
    meal_peak_min: float
    dawn_fraction: float
    daily_sensitivity_sd: float  # lognormal SD of day-to-day insulin sensitivity
    carb_count_sd: float  # lognormal SD of the patient's carb estimate
    overdose_probability: float  # per bolus
    meal_skipped_probability: float  # per bolus
    exercise_probability: float  # per day
    hypo_aware_mg_dl: float  # symptom threshold when awake
    rescue_delay_min: float  # time below it before eating, awake
    interstitial_lag_min: float
    compressions_per_night: float

    def __post_init__(self) -> None:
        values = {f.name: float(getattr(self, f.name)) for f in fields(self)}
        bad = {name for name, v in values.items() if not (math.isfinite(v) and v >= 0.0)}
        bad |= {name for name in _POSITIVE if values[name] <= 0.0}
        # the 1-minute Euler step is only faithful for time constants well above a minute
        bad |= {name for name in _EULER_TIME_CONSTANTS if values[name] < 5.0}
        bad |= {name for name in values if name.endswith("_probability") and values[name] > 1.0}
        if bad:
            raise ValueError(f"implausible glucose profile: {sorted(bad)}")


_POSITIVE = ("isf_mg_dl_per_u", "carb_ratio_g_per_u", "carb_rise_mg_dl_per_g",
             "basal_need_u_per_h", "target_mg_dl", "interstitial_lag_min")  # fmt: skip
_EULER_TIME_CONSTANTS = ("effectiveness_tau_min", "insulin_peak_min", "meal_peak_min")

# field -> (median, lognormal SD, low, high)
_LOGNORMAL_DRAWS: Mapping[str, tuple[float, float, float, float]] = MappingProxyType(
    {"isf_mg_dl_per_u": (50.0, 0.25, 25.0, 100.0),  # "1800 rule" at ~36 U/day
     "carb_ratio_g_per_u": (10.0, 0.25, 5.0, 20.0),  # "500 rule"
     "basal_u_per_h": (0.8, 0.3, 0.3, 2.0)}
)  # fmt: skip
# field -> uniform range
_UNIFORM_DRAWS: Mapping[str, tuple[float, float]] = MappingProxyType(
    {"target_mg_dl": (105.0, 150.0), "effectiveness_tau_min": (240.0, 480.0),
     "insulin_peak_min": (60.0, 85.0), "meal_peak_min": (30.0, 50.0),
     "dawn_fraction": (0.0, 0.2), "daily_sensitivity_sd": (0.03, 0.1),
     "carb_count_sd": (0.1, 0.25), "overdose_probability": (0.04, 0.16),
     "meal_skipped_probability": (0.01, 0.05), "exercise_probability": (0.0, 0.6),
     "rescue_delay_min": (2.0, 10.0), "interstitial_lag_min": (5.0, 10.0),
     "compressions_per_night": (0.1, 0.5)}
)  # fmt: skip
_IMPAIRED_AWARENESS_SHARE = 0.25
# impaired awareness -> range of the symptom threshold when awake
_AWARE_MG_DL: Mapping[bool, tuple[float, float]] = MappingProxyType(
    {False: (58.0, 70.0), True: (48.0, 56.0)}
)


class RandomStream(IntEnum):
    """Independent random streams, so e.g. an extra rescue never shifts the sensor noise."""

    PROFILE = 0
    PLAN = 1
    RESCUE = 2
    SENSOR = 3


def rng_for(seed: int, patient_index: int, stream: RandomStream) -> np.random.Generator:
    if seed < 0 or patient_index < 0:
        raise ValueError("seed and patient_index must be non-negative")
    return np.random.default_rng([seed, patient_index, int(stream)])


def between(rng: np.random.Generator, low_high: tuple[float, float]) -> float:
    return float(rng.uniform(*low_high))


def profile_for(patient_index: int, seed: int) -> GlucoseProfile:
    """An adult with type 1 diabetes on intensive insulin; a quarter with impaired awareness."""
    rng = rng_for(seed, patient_index, RandomStream.PROFILE)
    drawn = {
        name: float(np.clip(rng.lognormal(math.log(median), sd), low, high))
        for name, (median, sd, low, high) in _LOGNORMAL_DRAWS.items()
    }
    drawn |= {name: between(rng, low_high) for name, low_high in _UNIFORM_DRAWS.items()}
    dosing_bias = float(rng.lognormal(-0.03, 0.08))  # > 1: every meal bolus a little too big
    impaired = bool(rng.random() < _IMPAIRED_AWARENESS_SHARE)
    return GlucoseProfile(
        patient_index=patient_index,
        carb_rise_mg_dl_per_g=drawn["isf_mg_dl_per_u"] / drawn["carb_ratio_g_per_u"] / dosing_bias,
        basal_need_u_per_h=drawn["basal_u_per_h"] * float(rng.lognormal(0.0, 0.06)),
        hypo_aware_mg_dl=between(rng, _AWARE_MG_DL[impaired]),
        **drawn,
    )
