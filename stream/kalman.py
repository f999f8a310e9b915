"""Online CGM filter: a Kalman filter that tells glucose change from sensor error, and the
probability that glucose crosses a limit within a horizon. Pure, plain Python floats.

Model (time in minutes), in the spirit of Facchinetti et al. 2010 (online Kalman filtering of
CGM with a sensor-error model) and the error model of Breton & Kovatchev 2008 / Facchinetti et
al. 2014 (serially correlated sensor error, lag-1 autocorrelation ~0.9 at 5 min, SD ~10 mg/dL):

    state x = (g, r, e): true glucose (mg/dL), its rate (mg/dL/min), the sensor's own error
    g' = g + r * tau * (1 - a)       a = exp(-dt / tau): the trend decays (counter-regulation,
    r' = a * r + w_r                 meals and insulin running out bend real glucose curves)
    e' = phi^(dt / 5 min) * e + w_e  AR(1) sensor error, stationary SD `sensor_sd`
    y  = g + e + v                   the reading; v white noise, SD `white_sd`

A slow sensor drift is thus read as sensor error, not as a fall, unless the readings keep going
down for longer than the error's correlation time. The prediction at horizon h is Gaussian
(mean g + r tau (1 - exp(-h/tau)), variance from the filter's covariance plus the process noise
over h); `crossing_probability` is its largest probability of being below the limit over
5-minute steps to the horizon. Irregular sampling is handled exactly (the transition uses the
real gap); after a gap longer than `max_gap_s` the filter restarts from the reading, since the
old rate says nothing any more, and it predicts nothing until `warmup_n` readings. A reading
falling away from the prediction faster than `implausible_rate` (a compression low: the sensor
squeezed at night) is not glucose: the filter moves on in time without it, up to
`max_artefacts` readings in a row, then restarts from the reading. A reading otherwise far from
the prediction (beyond `outlier_z` SD) is down-weighted (its noise inflated). Values dangerous
on their own (< 54 mg/dL) have their own immediate rule on the raw reading, so none of this
hides them.

The state is 15 floats per CGM stream (time, x, P, readings since the start, artefacts in a
row), kept in `StreamState.kf`. Must not: decide alerts (evaluate.py does), do I/O or read a clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

STATE_LEN = 15  # t, g, r, e, P row by row (3 x 3), readings since the (re)start, artefacts in a row


@dataclass(frozen=True, slots=True)
class FilterSettings:
    sensor_sd: float = 10.0  # stationary SD of the correlated sensor error, mg/dL
    sensor_ar: float = 0.85  # its lag-1 autocorrelation at 5 minutes
    white_sd: float = 3.0  # white measurement noise, mg/dL
    rate_q: float = 0.1  # rate diffusion while filtering, (mg/dL/min)^2 per minute
    future_rate_q: float = 0.01  # the same, for the rate's change over the forecast horizon
    glucose_q: float = 0.5  # unmodelled glucose change, (mg/dL)^2 per minute
    tau_s: float = 60 * 60.0  # the trend's decay time
    init_rate_sd: float = 1.0  # mg/dL/min, at a (re)start
    max_gap_s: float = 16 * 60.0
    outlier_z: float = 4.0
    warmup_n: int = 3  # readings since a (re)start before the filter predicts anything
    implausible_rate: float = -5.0  # mg/dL/min below the prediction: an artefact, not glucose
    max_artefacts: int = 3  # in a row; then the filter restarts from the reading

    def __post_init__(self) -> None:
        if not 0 <= self.sensor_ar < 1 or min(self.sensor_sd, self.white_sd, self.tau_s) <= 0:
            raise ValueError("0 <= sensor_ar < 1 and positive noise and decay time")


DEFAULT_FILTER = FilterSettings()


def fresh(t: float, y: float, f: FilterSettings = DEFAULT_FILTER) -> list[float]:
    """A filter started at one reading: glucose at the reading, rate unknown."""
    es = f.sensor_sd**2
    rs = f.init_rate_sd**2
    return [t, y, 0.0, 0.0, es + f.white_sd**2, 0.0, -es, 0.0, rs, 0.0, -es, 0.0, es, 1.0, 0.0]


def update(
    kf: list[float] | None, t: float, y: float, f: FilterSettings = DEFAULT_FILTER
) -> list[float]:
    """The filter after reading `y` at `t` (readings in event-time order)."""
    if kf is None or len(kf) != STATE_LEN or t - kf[0] > f.max_gap_s or t < kf[0]:
        return fresh(t, y, f)
    dt = (t - kf[0]) / 60.0
    x, p = _predict(kf, dt, f)
    innovation = y - x[0] - x[2]
    if dt > 0 and innovation / dt < f.implausible_rate:
        if kf[14] >= f.max_artefacts:
            return fresh(t, y, f)  # not an artefact after all: the old state is useless
        return [t, *x, *p, kf[13], kf[14] + 1.0]  # a compression low: predicted, not read
    hp = [p[0] + p[6], p[1] + p[7], p[2] + p[8]]  # H P with H = (1, 0, 1)
    s = hp[0] + hp[2] + f.white_sd**2
    z = abs(innovation) / math.sqrt(s)
    if z > f.outlier_z:  # down-weight an implausible jump instead of following it
        s *= (z / f.outlier_z) ** 2
    k = [hp[0] / s, hp[1] / s, hp[2] / s]  # P H' / S (P symmetric)
    x = [x[i] + k[i] * innovation for i in range(3)]
    p = [p[3 * i + j] - k[i] * hp[j] for i in range(3) for j in range(3)]
    return [t, *x, *p, kf[13] + 1.0, 0.0]


def _predict(kf: list[float], dt: float, f: FilterSettings) -> tuple[list[float], list[float]]:
    g, r, e = kf[1], kf[2], kf[3]
    p = kf[4:13]
    tau = f.tau_s / 60.0
    a = math.exp(-dt / tau)
    b = tau * (1.0 - a)
    phi = f.sensor_ar ** (dt / 5.0)
    # F P F' written out, F = ((1, b, 0), (0, a, 0), (0, 0, phi)): the hot path, 3 x 3
    p00, p01, p02, p11, p12, p22 = p[0], p[1], p[2], p[4], p[5], p[8]
    g0, g1, g2 = p00 + b * p01, p01 + b * p11, p02 + b * p12  # row 0 of F P
    out = [
        g0 + b * g1, a * g1, phi * g2,
        a * g1, a * a * p11, a * phi * p12,
        phi * g2, a * phi * p12, phi * phi * p22,
    ]  # fmt: skip
    q = f.rate_q
    out[0] += q * dt**3 / 3.0 + f.glucose_q * dt
    out[1] += q * dt**2 / 2.0
    out[3] += q * dt**2 / 2.0
    out[4] += q * dt
    out[8] += f.sensor_sd**2 * (1.0 - phi * phi)
    return [g + b * r, a * r, phi * e], out


@dataclass(frozen=True, slots=True)
class Prediction:
    mean_mg_dl: float
    sd_mg_dl: float


def predict(kf: list[float], horizon_s: float, f: FilterSettings = DEFAULT_FILTER) -> Prediction:
    """True glucose `horizon_s` after the filter's last reading, as a Gaussian."""
    h = horizon_s / 60.0
    tau = f.tau_s / 60.0
    b = tau * (1.0 - math.exp(-h / tau))
    p = kf[4:13]
    var = p[0] + 2 * b * p[1] + b * b * p[4] + f.future_rate_q * h**3 / 3.0 + f.glucose_q * h
    return Prediction(kf[1] + b * kf[2], math.sqrt(max(var, 1e-9)))


def crossing_probability(
    kf: list[float], limit: float, horizon_s: float, f: FilterSettings = DEFAULT_FILTER
) -> float:
    """The largest probability that true glucose is below `limit`, at 5-minute steps up to
    `horizon_s` after the last reading; 0 while the filter is warming up."""
    best = 0.0
    if kf[13] < f.warmup_n:
        return best
    steps = max(1, round(horizon_s / 300.0))
    for i in range(1, steps + 1):
        pr = predict(kf, horizon_s * i / steps, f)
        best = max(best, below(limit, pr))
    return best


def below(limit: float, pr: Prediction) -> float:
    return 0.5 * math.erfc((pr.mean_mg_dl - limit) / (pr.sd_mg_dl * math.sqrt(2.0)))


def level(kf: list[float]) -> float:
    return kf[1]


def rate(kf: list[float]) -> float:
    return kf[2]
