"""A seeded person with diabetes wearing a CGM: true plasma glucose, what the sensor reports, and
ground-truth hypoglycaemia episodes, over days.

It exists to measure how early and how reliably low-glucose alert rules fire compared with a
single-reading threshold. It is a plausibility model for testing detectors, NOT a validated
physiological simulator (not UVA/Padova, not a fitted Hovorka model): it must not be used to
dose insulin, to judge a therapy or to claim clinical accuracy. It must stay a pure function of
(profile, start, days, cadence_s, seed): no I/O, no clock, no global random state.

True glucose G (mg/dL), forward Euler on a 1-minute grid:

    dG/dt = EGP(t) - s(t)·ISF·a_I(t) + CSF·(a_M(t) + a_R(t)) - X(t)
            - (G - G_ref)/τ_GE + k_cr·max(0, 65 - G),      G clamped to [40, 400]

- a_I (U/min): insulin appearance from a two-compartment subcutaneous chain fed by basal and
  boluses (S1' = u - S1/τ_I, S2' = (S1 - S2)/τ_I, a_I = S2/τ_I), so a bolus acts most after
  τ_I = 60-85 min and mostly within 4-5 h; the chain stands in for absorption and action. ISF is
  the total fall one unit causes; s(t) is a day-to-day sensitivity factor (lognormal, SD 3-10 %,
  interpolated between days) raised by 50 % while exercising, fading over ~3 h afterwards.
- EGP = ISF·B_need/60: endogenous production written as the basal rate that would hold glucose
  flat; the delivered basal misses it by a few per cent, and EGP rises by up to 20 % around
  06:00 (dawn phenomenon).
- a_M, a_R (g/min): carbohydrate appearance from the same kind of chain, τ_M = 30-50 min for
  meals and snacks, 10 min for rescue glucose. CSF (mg/dL per g) is the true rise per gram; the
  patient doses by a carb ratio that may not match it (systematic over- or under-dosing).
- X: extra insulin-independent uptake while exercising (0.6-1.5 mg/dL/min, 30-60 min).
- τ_GE = 4-8 h: glucose effectiveness, so a mis-set basal drifts rather than diverges;
  k_cr = 0.01/min: weak counter-regulation (blunted in type 1 diabetes).

Behaviour: three meals a day at jittered times and sizes, ~0.8 snacks (half unbolused); meal
boluses of counted carbs / carb ratio 0-20 min before eating, counts off by 10-25 % (lognormal);
per patient 4-16 % of boluses are over-doses (x1.3-1.8) and 1-5 % are given for a meal that is
then mostly skipped; exercise on up to 60 % of afternoons. Awake, the patient eats 15-30 g of
glucose 2-10 min after true glucose falls below their symptom threshold (58-70 mg/dL; 48-56 for
the quarter with impaired awareness) and re-treats 15 min later if still low (the 15-15 rule);
asleep the threshold is 12 mg/dL lower and the reaction twice as slow, so night lows run deeper.
Symptoms follow true glucose, never the sensor: the patient does not see the detectors' input.

Sensor: interstitial glucose follows G through a first-order lag (τ = 5-10 min), times a
per-sensor calibration gain (SD 9 %, within ±15 %), plus AR(1) noise (SD 6 mg/dL, correlation
time 10 min), minus night compression artefacts (23:30-06:30, 0.1-0.5 a night, 30-60 mg/dL
for 15-30 min), clipped to the 40-400 display range, rounded to whole mg/dL, ~1 % of samples
dropped (NaN). Clock times are UTC, as in `physiology.py`.

Modules: this one is the public surface (`simulate`, `GlucoseTrace`, `hypo_episodes`, and the
names re-exported below); `_glucose_profile.py` draws the patients; `_glucose_plan.py` plans
meals, boluses, exercise and sensor compressions; `_glucose_body.py` integrates true glucose;
`_cgm_sensor.py` is the sensor.

Figures relied on (approximate, as commonly reported): hypoglycaemia level 1 < 70 and level 2
< 54 mg/dL, episodes >= 15 min (ADA Standards of Care, section 6; Battelino et al., Diabetes
Care 2019, whose < 4 % time-below-70 target is of the order of one episode a day); two-
compartment absorption, t_max 55 min for insulin and 40 min for carbohydrate (Hovorka et al.,
Physiol Meas 2004); plasma-to-interstitial lag 5-10 min (Basu et al., Diabetes 2013; Keenan et
al., J Diabetes Sci Technol 2009); CGM MARD ~9-10 % (Dexcom G6: Shah et al., Diabetes Technol
Ther 2018); carb-counting error ~20 % (Brazeau et al., Diabetes Res Clin Pract 2013); CGM
trend-arrow bands of 1-2, 2-3 and > 3 mg/dL/min; weaker symptom responses in sleep (Jones et
al., N Engl J Med 1998); pressure-induced sensor attenuation (Baysal et al., J Diabetes Sci
Technol 2014). Episode and fall rates are outcomes, not inputs; on 30 patients x 3 days
(seed 1) they come to ~1.3 level-1 episodes per patient-day (some patients none), ~40 % of them
reaching level 2, a median steepest fall of ~0.8 mg/dL/min in the hour before crossing 70
(10 % above ~1.9, a few above 3), and a sensor MARD of ~8 % (tests/unit/test_glucose_model.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from simulators._cgm_sensor import interstitial_glucose, sensor_readings
from simulators._glucose_body import TRUE_RANGE_MG_DL, drive_per_minute, integrate
from simulators._glucose_plan import (
    EVENT_UNITS,
    Event,
    EventKind,
    Slip,
    plan_compressions,
    plan_events,
)
from simulators._glucose_profile import (
    DAY_S,
    MIN_S,
    FloatArray,
    GlucoseProfile,
    RandomStream,
    profile_for,
    rng_for,
)

__all__ = [
    "EVENT_UNITS",
    "LEVEL_2_MG_DL",
    "TRUE_RANGE_MG_DL",
    "Event",
    "EventKind",
    "GlucoseProfile",
    "GlucoseTrace",
    "HypoEpisode",
    "Slip",
    "hypo_episodes",
    "profile_for",
    "simulate",
]

LEVEL_2_MG_DL = 54.0


@dataclass(frozen=True, slots=True, eq=False)  # arrays: compare with numpy, not ==
class GlucoseTrace:
    times_s: FloatArray  # seconds since `start`, one per sensor sample
    true_mg_dl: FloatArray  # true plasma glucose at those times
    sensor_mg_dl: FloatArray  # what the CGM reports; NaN where it dropped the sample
    events: tuple[Event, ...]  # sorted by time
    start: datetime  # tz-aware UTC

    def __post_init__(self) -> None:
        if self.start.utcoffset() != timedelta(0):
            raise ValueError("start must be timezone-aware UTC")
        arrays = (self.times_s, self.true_mg_dl, self.sensor_mg_dl)
        if any(a.ndim != 1 or a.shape != self.times_s.shape for a in arrays):
            raise ValueError("times, true and sensor values must be 1-D and of equal length")
        if not np.all(np.diff(self.times_s) > 0):
            raise ValueError("times_s must increase strictly")


def _read_only(a: FloatArray) -> FloatArray:
    a.flags.writeable = False
    return a


def simulate(
    profile: GlucoseProfile, start: datetime, days: float, cadence_s: float = 300.0, seed: int = 0
) -> GlucoseTrace:
    """`days` of one patient from `start`, sampled every `cadence_s` (at least the 60 s step)."""
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    if not (days > 0 and MIN_S <= cadence_s <= days * DAY_S):
        raise ValueError("need days > 0 and 60 s <= cadence_s <= the trace's length")
    start, duration_s = start.astimezone(UTC), days * DAY_S
    clock0_s = (start - start.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds()
    rng = {
        s: rng_for(seed, profile.patient_index, s)
        for s in RandomStream
        if s is not RandomStream.PROFILE
    }
    plan = plan_events(profile, rng[RandomStream.PLAN], clock0_s, duration_s)
    drive = drive_per_minute(
        profile, plan, rng[RandomStream.PLAN], clock0_s, math.ceil(duration_s / MIN_S) + 1
    )
    true_per_min, rescues = integrate(profile, drive, rng[RandomStream.RESCUE])
    times_s = np.arange(int(duration_s // cadence_s), dtype=np.float64) * cadence_s
    compressions = plan_compressions(profile, rng[RandomStream.SENSOR], clock0_s, duration_s)
    interstitial = interstitial_glucose(profile.interstitial_lag_min, true_per_min)
    drops = [(e.at_s, e.duration_s, e.amount) for e in compressions]
    sensor = sensor_readings(interstitial, times_s, cadence_s, drops, rng[RandomStream.SENSOR])
    true = np.interp(times_s / MIN_S, np.arange(len(true_per_min)), true_per_min)
    events = tuple(sorted(plan + rescues + compressions, key=lambda e: (e.at_s, e.kind)))
    return GlucoseTrace(_read_only(times_s), _read_only(true), _read_only(sensor), events, start)


# --- ground truth --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HypoEpisode:
    start_s: float  # first sample with true glucose < threshold
    end_s: float  # first sample back >= threshold, or the last sample of the trace
    nadir_mg_dl: float
    level: int  # 1 if nadir >= 54 mg/dL, 2 if below

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def hypo_episodes(
    trace: GlucoseTrace, threshold_mg_dl: float = 70.0, min_duration_s: float = 900.0
) -> list[HypoEpisode]:
    """Runs of true glucose below the threshold lasting at least `min_duration_s` (15 min: the
    consensus minimum). Unlike the consensus, runs are not merged across brief recoveries."""
    t, g = trace.times_s, trace.true_mg_dl
    below = np.concatenate(([False], g < threshold_mg_dl, [False]))
    edges = np.flatnonzero(np.diff(below.astype(np.int8))).tolist()
    episodes = []
    for first, back in zip(edges[::2], edges[1::2], strict=True):
        end_s = float(t[back]) if back < len(t) else float(t[-1])
        if end_s - float(t[first]) >= min_duration_s:
            nadir = float(g[first:back].min())
            level = 2 if nadir < LEVEL_2_MG_DL else 1
            episodes.append(HypoEpisode(float(t[first]), end_s, nadir, level))
    return episodes
