"""Short-horizon CGM glucose forecast: a weighted, damped local-linear model. Pure numpy.

The model, for the last `fit_s` seconds of readings (at least `min_points`, no gap over
`max_gap_s`):

1. Fit a straight line by weighted least squares, weights halving every `half_life_s` into the
   past: recent readings matter most, but one noisy reading does not swing the slope the way a
   two-point difference does.
2. Level = the fitted value at the latest reading (a smoothed current glucose).
3. Forecast at horizon h = level + slope * tau * (1 - exp(-h / tau)): the trend is damped with
   time constant `tau_s`, because counter-regulation, meals and insulin running out bend real
   glucose curves; an undamped line overshoots at 30 minutes.
4. Artefact guard: a fall between two consecutive readings faster than `implausible_rate`
   (compression lows, sensor dropouts) is not physiology, so no forecast is made from that
   window. Values dangerous on their own (< 54 mg/dL) are caught by their own immediate rule, so
   this guard never hides them.

`linear_extrapolation` is the plain two-point line the model is compared with (tests, bench).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class ForecastModel:
    fit_s: float = 25 * 60.0
    min_points: int = 4
    max_gap_s: float = 11 * 60.0
    half_life_s: float = 10 * 60.0
    tau_s: float = 30 * 60.0
    implausible_rate_mg_dl_min: float = -5.0


@dataclass(frozen=True, slots=True)
class Forecast:
    level_mg_dl: float
    slope_mg_dl_min: float
    tau_s: float

    def at(self, horizon_s: float) -> float:
        damped_min = self.tau_s * (1.0 - math.exp(-horizon_s / self.tau_s)) / 60.0
        return self.level_mg_dl + self.slope_mg_dl_min * damped_min


DEFAULT_MODEL = ForecastModel()


def forecast(times_s: F64, values: F64, model: ForecastModel = DEFAULT_MODEL) -> Forecast | None:
    """Forecast from readings (ascending times, seconds) ending at the reading of interest."""
    if len(times_s) == 0:
        return None
    keep = times_s > times_s[-1] - model.fit_s
    t, v = times_s[keep], values[keep]
    if len(t) < model.min_points or np.any(np.diff(t) > model.max_gap_s):
        return None
    rates = np.diff(v) / (np.diff(t) / 60.0)
    if np.any(rates < model.implausible_rate_mg_dl_min):
        return None
    w = 0.5 ** ((t[-1] - t) / model.half_life_s)
    tm = (w * t).sum() / w.sum()
    vm = (w * v).sum() / w.sum()
    denom = (w * (t - tm) ** 2).sum()
    if denom <= 0:
        return None
    slope_per_s = (w * (t - tm) * (v - vm)).sum() / denom
    level = vm + slope_per_s * (t[-1] - tm)
    return Forecast(float(level), float(slope_per_s * 60.0), model.tau_s)


def linear_extrapolation(times_s: F64, values: F64, horizon_s: float) -> float | None:
    """The naive baseline: the line through the last two readings, extended by `horizon_s`."""
    if len(times_s) < 2 or times_s[-1] == times_s[-2]:
        return None
    slope = (values[-1] - values[-2]) / (times_s[-1] - times_s[-2])
    return float(values[-1] + slope * horizon_s)
