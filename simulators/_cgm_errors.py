"""CGM sensor-error models for the quality cohorts: what a sensor reports, given interstitial
glucose, under three kinds of error. Pure and seeded by the caller's numpy Generator.

- `WHITE`: independent Gaussian errors, SD 8 mg/dL: the model that flatters a slope detector,
  kept as the easy case.
- `CORRELATED`: the published serially correlated model. Breton & Kovatchev (J Diabetes Sci
  Technol 2008; 2(5):853-862) found the CGM error (FreeStyle Navigator against YSI every 15 min)
  non-Gaussian, mean 0.76 and SD 11 mg/dL, strongly autocorrelated for hours, and modelled it as
  a standard-normal autoregressive driving process e_n mapped through a Johnson SU transform,
  eps_n = xi + lambda * sinh((e_n - gamma) / delta), with xi = -5.47 mg/dL, lambda = 15.96
  mg/dL, gamma = -0.5444, delta = 1.6898 (their Johnson fit, the values the UVA/Padova
  simulator uses). Their driving process is AR(1), e_n = 0.7 (e_{n-1} + v_n), at 15-min steps
  (~0.89 per 5 min). Facchinetti et al. ('Modeling the glucose sensor error', IEEE Trans Biomed
  Eng 2014; 61(3)), from four simultaneous Dexcom SEVEN Plus sensors sampled every 5 min, found
  the noise second order: AR(2) with alpha_1 = 1.23, alpha_2 = -0.3995 for the component common
  to the sensors (their eq. 13; 1.013 and -0.2135 for the sensor-specific one). Here the
  driving process is that AR(2), scaled to unit variance, at the 5-min sample step, and Breton's
  transform gives the marginal: lag-1 autocorrelation ~0.87 at 5 min, SD ~12 mg/dL, mean ~+0.8.
- `DRIFT`: calibration error as in Facchinetti et al. 2014 (a gain and an offset that drift
  linearly with time since calibration, their eq. 5-6), recalibrated every 12 h (a jump at each
  recalibration), plus smaller AR(1) noise (SD 4 mg/dL, 10-min correlation time), pressure-
  induced compression artefacts (false lows while lying on the sensor: Baysal et al., J
  Diabetes Sci Technol 2014; Emami, Rabasa-Lhoret & Haidar, Diabetes Technol Ther, estimate
  1.7 such "drop-outs" a day; here ~0.5 a night between 00:00 and 06:00 UTC, a dip of 20-60
  mg/dL for 10-60 min, placed only where true glucose is flat) and dropouts (signal loss, no
  reading sent: gaps of 10-120 min, ~1 a day; plausible, not fitted).

Gain and offset draws of `DRIFT` are plausible, not fitted: gain SD 5 % and offset SD 6 mg/dL at
calibration, drifting by SD 8 %/day and 12 mg/dL/day. Must not: model physiology (the caller
passes interstitial glucose), read a clock or a global random state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from simulators._glucose_profile import FloatArray

SENSOR_RANGE_MG_DL = (40.0, 400.0)
_MIN_S, _HOUR_S, _DAY_S = 60.0, 3600.0, 86_400.0

WHITE_SD_MG_DL = 8.0
# Breton & Kovatchev 2008 (Johnson SU fit): xi, lambda (mg/dL), gamma, delta
JOHNSON_XI, JOHNSON_LAMBDA, JOHNSON_GAMMA, JOHNSON_DELTA = -5.47, 15.96, -0.5444, 1.6898
# Facchinetti et al. 2014, eq. 13: AR(2) of the noise on the 5-min grid
AR2_ALPHA = (1.23, -0.3995)

_RECALIBRATE_S = 12 * _HOUR_S
_GAIN_SD, _GAIN_DRIFT_SD_PER_DAY = 0.05, 0.08
_OFFSET_SD, _OFFSET_DRIFT_SD_PER_DAY = 6.0, 12.0
_DRIFT_NOISE_SD, _DRIFT_NOISE_CORRELATION_S = 4.0, 600.0
_COMPRESSIONS_PER_NIGHT, _COMPRESSION_HOURS = 1.0, (0.0, 6.0)  # about half find flat truth
_COMPRESSION_MIN, _COMPRESSION_DEPTH = (10.0, 60.0), (20.0, 60.0)
_FLAT_WITHIN_MG_DL = 15.0  # true glucose moves less than this around a compression
_DROPOUTS_PER_DAY, _DROPOUT_MIN = 1.0, (10.0, 120.0)


class ErrorModel(StrEnum):
    WHITE = "white"
    CORRELATED = "correlated"
    DRIFT = "drift"


@dataclass(frozen=True, slots=True, eq=False)
class SensorTrace:
    values: FloatArray  # reported mg/dL at the sample times; NaN where nothing was sent
    compressions: tuple[tuple[float, float, float], ...] = ()  # (start_s, end_s, depth)
    dropouts: tuple[tuple[float, float], ...] = ()  # (start_s, end_s)


def ar2_unit(
    rng: np.random.Generator, n: int, alpha: tuple[float, float] = AR2_ALPHA
) -> FloatArray:
    """A stationary AR(2) series of unit variance (started from its stationary law)."""
    a1, a2 = alpha
    rho1 = a1 / (1.0 - a2)
    innovation_sd = math.sqrt(1.0 - a1 * rho1 - a2 * (a1 * rho1 + a2))
    e = np.empty(n + 2)
    e[0] = rng.normal()
    e[1] = rho1 * e[0] + math.sqrt(1.0 - rho1 * rho1) * rng.normal()
    shocks = rng.normal(0.0, innovation_sd, n).tolist()
    prev2, prev1 = float(e[0]), float(e[1])
    for k, w in enumerate(shocks):
        prev2, prev1 = prev1, a1 * prev1 + a2 * prev2 + w
        e[k + 2] = prev1
    return e[2:]


def johnson_su(e: FloatArray) -> FloatArray:
    """Breton & Kovatchev's map of a standard-normal series to the sensor error (mg/dL)."""
    return JOHNSON_XI + JOHNSON_LAMBDA * np.sinh((e - JOHNSON_GAMMA) / JOHNSON_DELTA)


def _ar1(rng: np.random.Generator, n: int, step_s: float, sd: float, tau_s: float) -> FloatArray:
    keep = math.exp(-step_s / tau_s)
    out, x = np.empty(n), float(rng.normal(0.0, sd))
    for k, w in enumerate(rng.normal(0.0, sd * math.sqrt(1.0 - keep * keep), n).tolist()):
        x = keep * x + w
        out[k] = x
    return out


def _calibration(rng: np.random.Generator, times_s: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Gain and offset per sample: fresh at each recalibration, drifting linearly in between."""
    period = np.floor(times_s / _RECALIBRATE_S).astype(int)
    n = int(period.max()) + 1 if len(period) else 0
    g0, g1 = rng.normal(1.0, _GAIN_SD, n), rng.normal(0.0, _GAIN_DRIFT_SD_PER_DAY, n)
    b0, b1 = rng.normal(0.0, _OFFSET_SD, n), rng.normal(0.0, _OFFSET_DRIFT_SD_PER_DAY, n)
    since_days = (times_s - period * _RECALIBRATE_S) / _DAY_S
    return g0[period] + g1[period] * since_days, b0[period] + b1[period] * since_days


def _flat(true_per_min: FloatArray, start_s: float, end_s: float) -> bool:
    lo, hi = int(start_s // _MIN_S) - 10, int(end_s // _MIN_S) + 10
    if lo < 0 or hi >= len(true_per_min):
        return False
    window = true_per_min[lo : hi + 1]
    return float(window.max() - window.min()) < _FLAT_WITHIN_MG_DL


def plan_compressions(
    rng: np.random.Generator, true_per_min: FloatArray, clock0_s: float
) -> list[tuple[float, float, float]]:
    """Night-time compressions, each where true glucose stays flat (up to 20 tries each)."""
    duration_s = (len(true_per_min) - 1) * _MIN_S
    out = []
    for night in range(math.ceil((clock0_s + duration_s) / _DAY_S) + 1):
        for _ in range(int(rng.poisson(_COMPRESSIONS_PER_NIGHT))):
            length_s = float(rng.uniform(*_COMPRESSION_MIN)) * _MIN_S
            depth = float(rng.uniform(*_COMPRESSION_DEPTH))
            for _try in range(20):
                hour = float(rng.uniform(_COMPRESSION_HOURS[0], _COMPRESSION_HOURS[1]))
                at_s = night * _DAY_S - clock0_s + hour * _HOUR_S
                if hour * _HOUR_S + length_s <= _COMPRESSION_HOURS[1] * _HOUR_S and _flat(
                    true_per_min, at_s, at_s + length_s
                ):
                    out.append((at_s, at_s + length_s, depth))
                    break
    return sorted(out)


def _dip(compressions: list[tuple[float, float, float]], times_s: FloatArray) -> FloatArray:
    """Falls within the first 20 % of the artefact, holds, recovers over the last 30 %."""
    drop = np.zeros_like(times_s)
    for start_s, end_s, depth in compressions:
        x = (times_s - start_s) / (end_s - start_s)
        drop += depth * np.clip(np.minimum(x / 0.2, (1.0 - x) / 0.3), 0.0, 1.0)
    return drop


def plan_dropouts(rng: np.random.Generator, duration_s: float) -> list[tuple[float, float]]:
    n = int(rng.poisson(_DROPOUTS_PER_DAY * duration_s / _DAY_S))
    starts = np.sort(rng.uniform(0.0, duration_s, n)).tolist()
    return [(s, s + float(rng.uniform(*_DROPOUT_MIN)) * _MIN_S) for s in starts]


def _report(seen: FloatArray) -> FloatArray:
    return np.asarray(np.round(np.clip(seen, *SENSOR_RANGE_MG_DL)), dtype=np.float64)


def sense(
    model: ErrorModel,
    interstitial_per_min: FloatArray,
    true_per_min: FloatArray,
    times_s: FloatArray,
    clock0_s: float,
    rng: np.random.Generator,
) -> SensorTrace:
    """What the sensor reports at `times_s` (seconds from the trace's start, on the 1-min grid of
    the two input series); `clock0_s` is the start's time of day (UTC), for the nights."""
    ig = np.interp(times_s / _MIN_S, np.arange(len(interstitial_per_min)), interstitial_per_min)
    if model is ErrorModel.WHITE:
        return SensorTrace(_report(ig + rng.normal(0.0, WHITE_SD_MG_DL, len(times_s))))
    if model is ErrorModel.CORRELATED:
        return SensorTrace(_report(ig + johnson_su(ar2_unit(rng, len(times_s)))))
    step_s = float(times_s[1] - times_s[0]) if len(times_s) > 1 else 300.0
    gain, offset = _calibration(rng, times_s)
    noise = _ar1(rng, len(times_s), step_s, _DRIFT_NOISE_SD, _DRIFT_NOISE_CORRELATION_S)
    compressions = plan_compressions(rng, true_per_min, clock0_s)
    dropouts = plan_dropouts(rng, float(times_s[-1]) + step_s if len(times_s) else 0.0)
    values = _report(gain * ig + offset + noise - _dip(compressions, times_s))
    for start_s, end_s in dropouts:
        values[(times_s >= start_s) & (times_s < end_s)] = np.nan
    return SensorTrace(values, tuple(compressions), tuple(dropouts))
