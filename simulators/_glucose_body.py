"""The glucose model's body: inputs per minute (insulin, carbs, exercise, sensitivity, EGP), then
forward-Euler integration of true plasma glucose, with the patient's rescue carbs (which depend
on it). The equations are in `simulators/glucose.py`. Pure and seeded by the caller's generator.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from simulators._glucose_plan import Event, EventKind, days_spanned
from simulators._glucose_profile import DAY_S, HOUR_S, MIN_S, FloatArray, GlucoseProfile, between

TRUE_RANGE_MG_DL = (40.0, 400.0)
_EXERCISE_SENSITIVITY_BOOST = 0.5  # insulin works 50 % harder while exercising ...
_EXERCISE_AFTER_MIN = 180.0  # ... fading with this time constant afterwards


@dataclass(frozen=True, slots=True)
class Drive:
    """Everything that does not depend on glucose itself, one value per minute."""

    insulin_u: FloatArray  # into the subcutaneous depot (basal + boluses)
    carbs_g: FloatArray  # into the gut
    uptake_mg_dl_min: FloatArray
    sensitivity: FloatArray
    egp_mg_dl_min: FloatArray
    asleep: npt.NDArray[np.bool_]


_SLEEP_H = (23.0, 7.0)
_INPUT_OF: Mapping[EventKind, str] = MappingProxyType(
    {EventKind.BOLUS: "insulin", EventKind.MEAL: "carbs", EventKind.SNACK: "carbs"}
)


def _exercise(events: list[Event], t_s: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Extra uptake (mg/dL/min) and how much of the sensitivity boost applies (0-1)."""
    uptake, effect = np.zeros_like(t_s), np.zeros_like(t_s)
    for e in (e for e in events if e.kind is EventKind.EXERCISE):
        end_s = e.at_s + e.duration_s
        uptake += np.where((t_s >= e.at_s) & (t_s < end_s), e.amount, 0.0)
        fading = np.exp(-np.maximum(t_s - end_s, 0.0) / (_EXERCISE_AFTER_MIN * MIN_S))
        effect = np.maximum(effect, np.where(t_s >= e.at_s, fading, 0.0))
    return uptake, effect


def drive_per_minute(
    p: GlucoseProfile, events: list[Event], rng: np.random.Generator, clock0_s: float, n: int
) -> Drive:
    t_s = np.arange(n, dtype=np.float64) * MIN_S
    hour = ((clock0_s + t_s) / HOUR_S) % 24.0
    inputs = {"insulin": np.full(n, p.basal_u_per_h / 60.0), "carbs": np.zeros(n)}
    for e in (e for e in events if e.kind in _INPUT_OF):
        inputs[_INPUT_OF[e.kind]][int(e.at_s // MIN_S)] += e.amount
    uptake, exercise = _exercise(events, t_s)
    days = days_spanned(clock0_s, float(t_s[-1]))
    midday_s = np.array([(d + 0.5) * DAY_S - clock0_s for d in days])
    daily = np.interp(t_s, midday_s, rng.lognormal(0.0, p.daily_sensitivity_sd, len(days)))
    dawn = np.where(np.abs(hour - 6.0) < 3.0, 0.5 * (1.0 + np.cos(np.pi * (hour - 6.0) / 3.0)), 0.0)
    egp = p.isf_mg_dl_per_u * p.basal_need_u_per_h / 60.0 * (1.0 + p.dawn_fraction * dawn)
    sensitivity = daily * (1.0 + _EXERCISE_SENSITIVITY_BOOST * exercise)
    asleep = (hour >= _SLEEP_H[0]) | (hour < _SLEEP_H[1])
    return Drive(inputs["insulin"], inputs["carbs"], uptake, sensitivity, egp, asleep)


_COUNTER_REG_BELOW_MG_DL = 65.0
_COUNTER_REG_PER_MIN = 0.01
_RESCUE_PEAK_MIN = 10.0
_RESCUE_G = (15.0, 30.0)
_RECHECK_MIN = 15  # the 15-15 rule: re-treat if still low 15 min later
# asleep -> (symptom threshold lowered by mg/dL, reaction slowed by factor)
_SYMPTOMS: Mapping[bool, tuple[float, float]] = MappingProxyType(
    {False: (0.0, 1.0), True: (12.0, 2.0)}
)


def integrate(
    p: GlucoseProfile, d: Drive, rng: np.random.Generator
) -> tuple[FloatArray, list[Event]]:
    """True glucose per minute, and the rescue carbs eaten (which depend on it)."""
    tau_i, tau_m, tau_r = p.insulin_peak_min, p.meal_peak_min, _RESCUE_PEAK_MIN
    isf, csf, tau_ge = p.isf_mg_dl_per_u, p.carb_rise_mg_dl_per_g, p.effectiveness_tau_min
    low, high = TRUE_RANGE_MG_DL
    s1 = s2 = p.basal_u_per_h / 60.0 * tau_i  # basal depot at steady state
    m1 = m2 = r1 = r2 = 0.0
    g, low_for_min, next_rescue_k = p.target_mg_dl, 0, 0
    out, rescues = [], []
    drive = zip(d.insulin_u.tolist(), d.carbs_g.tolist(), d.uptake_mg_dl_min.tolist(),
                d.sensitivity.tolist(), d.egp_mg_dl_min.tolist(), d.asleep.tolist(),
                strict=True)  # fmt: skip
    for k, (u, c, x, s, egp, asleep) in enumerate(drive):
        out.append(g)
        counter = _COUNTER_REG_PER_MIN * max(0.0, _COUNTER_REG_BELOW_MG_DL - g)
        dg = egp - s * isf * s2 / tau_i + csf * (m2 / tau_m + r2 / tau_r) - x + counter
        g = min(max(g + dg - (g - p.target_mg_dl) / tau_ge, low), high)
        s1, s2 = s1 + u - s1 / tau_i, s2 + (s1 - s2) / tau_i
        m1, m2 = m1 + c - m1 / tau_m, m2 + (m1 - m2) / tau_m
        r1, r2 = r1 - r1 / tau_r, r2 + (r1 - r2) / tau_r
        lowered_by, slowed_by = _SYMPTOMS[asleep]
        low_for_min = low_for_min + 1 if g < p.hypo_aware_mg_dl - lowered_by else 0
        if low_for_min >= p.rescue_delay_min * slowed_by and k >= next_rescue_k:
            grams = between(rng, _RESCUE_G)
            r1 += grams
            rescues.append(Event((k + 1) * MIN_S, EventKind.RESCUE, grams))
            next_rescue_k = k + _RECHECK_MIN
    return np.array(out), rescues
