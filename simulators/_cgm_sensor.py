"""The CGM sensor of `simulators.glucose`: what a worn sensor reports, given true glucose.

Interstitial glucose lags plasma glucose (first order, 5-10 min); the sensor reads it through a
per-sensor calibration gain (SD 9 %, within +-15 %), AR(1) noise (SD 6 mg/dL, correlation time
10 min) and pressure-induced compression artefacts, clips to the 40-400 display range, rounds
to whole mg/dL and drops ~1 % of samples. Pure and seeded by the caller's generator. Sources:
see `simulators/glucose.py`.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

_MIN_S = 60.0
SENSOR_RANGE_MG_DL = (40.0, 400.0)  # real receivers show LOW / HIGH outside it

_CALIBRATION_SD = 0.09
_CALIBRATION_LIMIT = 0.15
_NOISE_SD_MG_DL = 6.0
_NOISE_CORRELATION_S = 600.0
_DROPOUT_PROBABILITY = 0.01


def _compression_drop(drops: list[tuple[float, float, float]], times_s: FloatArray) -> FloatArray:
    """Falls over the first fifth of the artefact, holds, recovers over the last 30 %."""
    drop = np.zeros_like(times_s)
    for at_s, duration_s, amount in drops:
        x = (times_s - at_s) / duration_s
        drop += amount * np.clip(np.minimum(x / 0.2, (1.0 - x) / 0.3), 0.0, 1.0)
    return drop


def _first_order(x: list[float], keep: float, gain: float, y0: float) -> FloatArray:
    """y[k] = keep·y[k-1] + gain·x[k]: the recursion behind both the lag and the noise."""
    y, out = y0, []
    for v in x:
        y = keep * y + gain * v
        out.append(y)
    return np.array(out)


def interstitial_glucose(lag_min: float, true_per_min: FloatArray) -> FloatArray:
    """Interstitial glucose from true glucose on a 1-minute grid: a first-order lag."""
    keep = math.exp(-1.0 / lag_min)  # exact first-order step over 1 min
    return _first_order(true_per_min.tolist(), keep, 1.0 - keep, float(true_per_min[0]))


def _ar1(rng: np.random.Generator, n: int, cadence_s: float) -> FloatArray:
    keep = math.exp(-cadence_s / _NOISE_CORRELATION_S)
    shocks = rng.normal(0.0, _NOISE_SD_MG_DL, n + 1).tolist()
    # starts stationary and keeps its SD at _NOISE_SD_MG_DL
    return _first_order(shocks[1:], keep, math.sqrt(1.0 - keep * keep), shocks[0])


def sensor_readings(
    interstitial: FloatArray, times_s: FloatArray, cadence_s: float,
    drops: list[tuple[float, float, float]], rng: np.random.Generator,
) -> FloatArray:  # fmt: skip
    """What the CGM reports at `times_s`: calibration gain, AR(1) noise, compression artefacts
    (at_s, duration_s, depth), clipped and rounded, some samples dropped (NaN)."""
    error = float(
        np.clip(rng.normal(0.0, _CALIBRATION_SD), -_CALIBRATION_LIMIT, _CALIBRATION_LIMIT)
    )
    seen = np.interp(times_s / _MIN_S, np.arange(len(interstitial)), interstitial) * (1.0 + error)
    seen += _ar1(rng, len(times_s), cadence_s) - _compression_drop(drops, times_s)
    reported = np.round(np.clip(seen, *SENSOR_RANGE_MG_DL))
    return np.where(rng.random(len(times_s)) < _DROPOUT_PROBABILITY, np.nan, reported)
