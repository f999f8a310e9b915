"""Cohorts for `vigil bench quality` that do not flatter the detectors: recorded-style readings
with the true value of each, and the true series they were drawn from.

CGM: a physiology variant (`Physiology`) gives true plasma glucose per minute
(`simulators.glucose`); a first-order plasma-to-interstitial lag (the patient's 5-10 min) and one
of the sensor-error models of `simulators._cgm_errors` (`ErrorModel`) give the readings, every 5
min. The same patients (same true glucose) are seen through each error model, so error models
compare on identical physiology.

- `STANDARD`: `glucose.profile_for` as it is.
- `NOCTURNAL`: the same kind of patient with the basal rate 8-20 % above need (a slow fall when
  no meal intervenes, so most lows come at night), insulin sensitivity 10-40 % higher and more
  variable from day to day (SD 8-15 %), exercise on 40-80 % of afternoons, over-doses on 8-20 %
  of boluses, and half of them with impaired awareness (symptoms only at 48-56 mg/dL, rescue
  after 5-15 min). A different patient mix, not a validated model.

SpO2: a wearable every minute. True SpO2: a baseline of 95-98 % with slow wander (AR(1), SD 0.5
points, 30-min correlation); brief desaturations (0.5 a day: 2-8 min below 90 %, nadir 84-89 %);
a third of the patients with one sustained desaturation (20-min ramp to 82-88 %, 20-120 min
there, 20-min recovery); shallow dips to 90.5-92.5 % (0.5 a day, 5-30 min). Readings: true
value plus N(0, 0.8), rounded, at most 100, and motion artefacts (6 a day, mostly daytime: 1-3
consecutive readings 5-15 points low) that the truth does not have.

Deterministic per (index, days, seed): every draw comes from `np.random.default_rng` seeded by
(seed, index, stream). Must not: import the stream, the alerts or the replay (simulators speak
only the device contract); a reading's `true_value` is what a meter would approach, and is used
by the replay only to simulate the patient's re-check.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import NamedTuple

import numpy as np

from simulators import glucose
from simulators._cgm_errors import ErrorModel, SensorTrace, sense
from simulators._cgm_sensor import interstitial_glucose
from simulators._glucose_profile import FloatArray

START = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)  # a Monday, midnight UTC
DAY_S, MIN_S = 86_400.0, 60.0
CGM_CADENCE_S = 300.0


class Physiology(StrEnum):
    STANDARD = "standard"
    NOCTURNAL = "nocturnal"


class Sample(NamedTuple):
    """One recorded reading, as a line of a replay file (seconds since `START`)."""

    device_id: str
    t_s: float
    metric: str
    value: float
    unit: str
    true_value: float


@dataclass(frozen=True, slots=True, eq=False)
class Patient:
    patient_id: str
    samples: tuple[Sample, ...]  # in time order
    true_per_min: FloatArray  # the true value on a 1-min grid from START
    sensor: SensorTrace | None = None  # CGM: the error model's artefacts (for tests)


def _rng(seed: int, index: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, index, stream])


def nocturnal_profile(index: int, seed: int) -> glucose.GlucoseProfile:
    p, rng = glucose.profile_for(index, seed), _rng(seed, index, 101)
    impaired = bool(rng.random() < 0.5)
    return replace(
        p,
        basal_need_u_per_h=p.basal_u_per_h / float(rng.uniform(1.08, 1.2)),
        isf_mg_dl_per_u=p.isf_mg_dl_per_u * float(rng.uniform(1.1, 1.4)),
        carb_rise_mg_dl_per_g=p.carb_rise_mg_dl_per_g * float(rng.uniform(1.1, 1.4)),
        daily_sensitivity_sd=float(rng.uniform(0.08, 0.15)),
        exercise_probability=float(rng.uniform(0.4, 0.8)),
        overdose_probability=float(rng.uniform(0.08, 0.2)),
        hypo_aware_mg_dl=float(rng.uniform(48.0, 56.0)) if impaired else p.hypo_aware_mg_dl,
        rescue_delay_min=float(rng.uniform(5.0, 15.0)),
    )


def true_glucose(
    physiology: Physiology, index: int, days: float, seed: int
) -> tuple[FloatArray, float]:
    """True plasma glucose per minute, and the patient's plasma-to-interstitial lag (min)."""
    if physiology is Physiology.STANDARD:
        profile = glucose.profile_for(index, seed)
    else:
        profile = nocturnal_profile(index, seed)
    trace = glucose.simulate(profile, START, days, MIN_S, seed)
    return np.asarray(trace.true_mg_dl, dtype=np.float64), profile.interstitial_lag_min


def cgm_patient(
    physiology: Physiology, model: ErrorModel, index: int, days: float, seed: int
) -> Patient:
    true, lag_min = true_glucose(physiology, index, days, seed)
    return cgm_from_truth(true, lag_min, physiology, model, index, seed)


def cgm_from_truth(
    true: FloatArray, lag_min: float, physiology: Physiology, model: ErrorModel, index: int,
    seed: int,
) -> Patient:  # fmt: skip
    """The CGM readings of one patient's true glucose through one error model."""
    pid = f"q-{physiology.value[:3]}-{index:03d}"
    rng = _rng(seed, index, 200 + list(ErrorModel).index(model))
    times = np.arange(0.0, (len(true) - 1) * MIN_S, CGM_CADENCE_S)
    interstitial = interstitial_glucose(lag_min, true)
    trace = sense(model, interstitial, true, times, 0.0, rng)
    true_at = np.interp(times / MIN_S, np.arange(len(true)), true)
    samples = tuple(
        Sample(f"{pid}-cgm", t, "glucose", v, "mg/dL", round(g, 1))
        for t, v, g in zip(times.tolist(), trace.values.tolist(), true_at.tolist(), strict=True)
        if not math.isnan(v)
    )
    return Patient(pid, samples, true, trace)


def cgm_cohort(
    physiology: Physiology, model: ErrorModel, n: int, days: float, seed: int
) -> list[Patient]:
    return [cgm_patient(physiology, model, i, days, seed) for i in range(n)]


# --- SpO2 ----------------------------------------------------------------------------------------


def _shape(grid_s: FloatArray, at_s: float, ramp_s: float, hold_s: float) -> FloatArray:
    """0 outside, 1 on the plateau, linear ramps of `ramp_s` either side."""
    x = grid_s - at_s
    return np.clip(np.minimum(x / ramp_s, (2 * ramp_s + hold_s - x) / ramp_s), 0.0, 1.0)


def true_spo2(index: int, days: float, seed: int) -> FloatArray:
    rng = _rng(seed, index, 300)
    grid = np.arange(0.0, days * DAY_S, MIN_S)
    baseline = float(rng.uniform(95.0, 98.0))
    keep = math.exp(-1.0 / 30.0)
    wander, x = np.empty(len(grid)), 0.0
    for k, w in enumerate(rng.normal(0.0, 0.5 * math.sqrt(1 - keep * keep), len(grid)).tolist()):
        x = keep * x + w
        wander[k] = x
    true = np.minimum(100.0, baseline + wander)
    dip = np.zeros(len(grid))
    for _ in range(int(rng.poisson(0.5 * days))):  # brief desaturations below 90 %
        at, nadir = float(rng.uniform(0.0, days * DAY_S - 900.0)), float(rng.uniform(84.0, 89.0))
        dip = np.maximum(
            dip, (baseline - nadir) * _shape(grid, at, 60.0, rng.uniform(2.0, 8.0) * 60)
        )
    if index % 3 == 0:  # one sustained desaturation
        at = float(rng.uniform(0.05, 0.8) * days * DAY_S)
        nadir, hold = float(rng.uniform(82.0, 88.0)), float(rng.uniform(20.0, 120.0)) * 60.0
        dip = np.maximum(dip, (baseline - nadir) * _shape(grid, at, 1200.0, hold))
    for _ in range(int(rng.poisson(0.5 * days))):  # shallow dips, never below 90 %
        at, floor = float(rng.uniform(0.0, days * DAY_S - 3600.0)), float(rng.uniform(90.5, 92.5))
        depth = max(0.0, baseline - floor)
        dip = np.maximum(dip, depth * _shape(grid, at, 120.0, rng.uniform(5.0, 30.0) * 60))
    return np.asarray(true - dip, dtype=np.float64)


def _artefacts(rng: np.random.Generator, days: float, n_readings: int) -> FloatArray:
    """Motion artefacts: 6 a day, 80 % of them 07:00-23:00, 1-3 readings 5-15 points low."""
    drop = np.zeros(n_readings)
    for _ in range(int(rng.poisson(6.0 * days))):
        day = int(rng.integers(0, max(1, math.ceil(days))))
        hour = rng.uniform(7.0, 23.0) if rng.random() < 0.8 else rng.uniform(-1.0, 7.0)
        k = int((day * DAY_S + hour * 3600.0) // MIN_S)
        for j in range(int(rng.integers(1, 4))):
            if 0 <= k + j < n_readings:
                drop[k + j] = max(drop[k + j], float(rng.uniform(5.0, 15.0)))
    return drop


def spo2_patient(index: int, days: float, seed: int) -> Patient:
    pid = f"q-spo2-{index:03d}"
    true = true_spo2(index, days, seed)
    rng = _rng(seed, index, 301)
    noisy = true + rng.normal(0.0, 0.8, len(true)) - _artefacts(rng, days, len(true))
    readings = np.minimum(100.0, np.round(np.maximum(noisy, 50.0)))
    samples = tuple(
        Sample(f"{pid}-wr", k * MIN_S, "spo2", v, "%", round(t, 1))
        for k, (v, t) in enumerate(zip(readings.tolist(), true.tolist(), strict=True))
    )
    return Patient(pid, samples, true)


def spo2_cohort(n: int, days: float, seed: int) -> list[Patient]:
    return [spo2_patient(i, days, seed) for i in range(n)]
