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
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from enum import IntEnum, StrEnum
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from simulators._cgm_sensor import interstitial_glucose, sensor_readings

FloatArray = npt.NDArray[np.float64]

_DAY_S = 86_400.0
_HOUR_S = 3600.0
_MIN_S = 60.0
TRUE_RANGE_MG_DL = (40.0, 400.0)
LEVEL_2_MG_DL = 54.0


class EventKind(StrEnum):
    MEAL = "meal"
    SNACK = "snack"
    RESCUE = "rescue"  # glucose eaten to treat symptoms
    BOLUS = "bolus"
    EXERCISE = "exercise"
    COMPRESSION = "compression"  # sensor artefact: true glucose unaffected


EVENT_UNITS: Mapping[EventKind, str] = MappingProxyType(
    {EventKind.MEAL: "g", EventKind.SNACK: "g", EventKind.RESCUE: "g", EventKind.BOLUS: "U",
     EventKind.EXERCISE: "mg/dL/min",  # extra uptake
     EventKind.COMPRESSION: "mg/dL"}  # depth of the false drop
)  # fmt: skip


class Slip(StrEnum):
    """What went wrong with a bolus: ground truth for explaining an alert."""

    NONE = "none"
    OVERDOSE = "overdose"  # 30-80 % more than the counted carbs called for
    MEAL_SKIPPED = "meal_skipped"  # bolus given, then most of the meal not eaten


@dataclass(frozen=True, slots=True)
class Event:
    at_s: float  # seconds since the trace's start
    kind: EventKind
    amount: float  # in EVENT_UNITS[kind]
    duration_s: float = 0.0
    slip: Slip = Slip.NONE

    @property
    def unit(self) -> str:
        return EVENT_UNITS[self.kind]


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


class _Stream(IntEnum):
    """Independent random streams, so e.g. an extra rescue never shifts the sensor noise."""

    PROFILE = 0
    PLAN = 1
    RESCUE = 2
    SENSOR = 3


def _rng(seed: int, patient_index: int, stream: _Stream) -> np.random.Generator:
    if seed < 0 or patient_index < 0:
        raise ValueError("seed and patient_index must be non-negative")
    return np.random.default_rng([seed, patient_index, int(stream)])


def _between(rng: np.random.Generator, low_high: tuple[float, float]) -> float:
    return float(rng.uniform(*low_high))


def profile_for(patient_index: int, seed: int) -> GlucoseProfile:
    """An adult with type 1 diabetes on intensive insulin; a quarter with impaired awareness."""
    rng = _rng(seed, patient_index, _Stream.PROFILE)
    drawn = {
        name: float(np.clip(rng.lognormal(math.log(median), sd), low, high))
        for name, (median, sd, low, high) in _LOGNORMAL_DRAWS.items()
    }
    drawn |= {name: _between(rng, low_high) for name, low_high in _UNIFORM_DRAWS.items()}
    dosing_bias = float(rng.lognormal(-0.03, 0.08))  # > 1: every meal bolus a little too big
    impaired = bool(rng.random() < _IMPAIRED_AWARENESS_SHARE)
    return GlucoseProfile(
        patient_index=patient_index,
        carb_rise_mg_dl_per_g=drawn["isf_mg_dl_per_u"] / drawn["carb_ratio_g_per_u"] / dosing_bias,
        basal_need_u_per_h=drawn["basal_u_per_h"] * float(rng.lognormal(0.0, 0.06)),
        hypo_aware_mg_dl=_between(rng, _AWARE_MG_DL[impaired]),
        **drawn,
    )


# --- the plan: when the patient eats, doses and exercises ---------------------------------------


@dataclass(frozen=True, slots=True)
class _MealSpec:
    clock_h: float
    jitter_min: float  # SD of the time
    carbs_g: float
    carbs_sd_g: float


_MEALS = (
    _MealSpec(clock_h=7.5, jitter_min=30.0, carbs_g=45.0, carbs_sd_g=15.0),
    _MealSpec(clock_h=12.75, jitter_min=40.0, carbs_g=60.0, carbs_sd_g=20.0),
    _MealSpec(clock_h=19.0, jitter_min=45.0, carbs_g=70.0, carbs_sd_g=25.0),
)
_MEAL_G = (10.0, 150.0)
_PREBOLUS_MIN = (0.0, 20.0)
# slip -> (dose factor range, share of the planned carbs eaten)
_SLIP_EFFECTS: Mapping[Slip, tuple[tuple[float, float], tuple[float, float]]] = MappingProxyType(
    {Slip.NONE: ((1.0, 1.0), (1.0, 1.0)), Slip.OVERDOSE: ((1.3, 1.8), (1.0, 1.0)),
     Slip.MEAL_SKIPPED: ((1.0, 1.0), (0.0, 0.3))}
)  # fmt: skip
_SNACKS_PER_DAY = 0.8
_SNACK_WINDOW_H = (10.0, 22.0)
_SNACK_G = (10.0, 30.0)
_SNACK_BOLUSED_SHARE = 0.5
_EXERCISE_WINDOW_H = (16.0, 19.5)
_EXERCISE_MIN = (30.0, 60.0)
_EXERCISE_UPTAKE_MG_DL_MIN = (0.6, 1.5)
_EXERCISE_SENSITIVITY_BOOST = 0.5  # insulin works 50 % harder while exercising ...
_EXERCISE_AFTER_MIN = 180.0  # ... fading with this time constant afterwards


def _slip(p: GlucoseProfile, u: float) -> Slip:
    chances = ((Slip.OVERDOSE, p.overdose_probability),
               (Slip.MEAL_SKIPPED, p.meal_skipped_probability))  # fmt: skip
    cumulative = 0.0
    for slip, chance in chances:
        cumulative += chance
        if u < cumulative:
            return slip
    return Slip.NONE


def _bolused(
    p: GlucoseProfile, rng: np.random.Generator, at_s: float, carbs_g: float, kind: EventKind
) -> list[Event]:
    slip = _slip(p, float(rng.random()))
    factor_range, eaten_range = _SLIP_EFFECTS[slip]
    counted_g = carbs_g * float(rng.lognormal(0.0, p.carb_count_sd))
    dose_u = round(counted_g / p.carb_ratio_g_per_u * _between(rng, factor_range), 1)
    bolus_at_s = at_s - _between(rng, _PREBOLUS_MIN) * _MIN_S
    eaten_g = carbs_g * _between(rng, eaten_range)
    return [Event(bolus_at_s, EventKind.BOLUS, dose_u, slip=slip), Event(at_s, kind, eaten_g)]


def _day_plan(p: GlucoseProfile, rng: np.random.Generator, midnight_s: float) -> list[Event]:
    events: list[Event] = []
    for meal in _MEALS:
        at_s = midnight_s + meal.clock_h * _HOUR_S + rng.normal(0.0, meal.jitter_min) * _MIN_S
        carbs_g = float(np.clip(rng.normal(meal.carbs_g, meal.carbs_sd_g), *_MEAL_G))
        events += _bolused(p, rng, at_s, carbs_g, EventKind.MEAL)
    for _ in range(rng.poisson(_SNACKS_PER_DAY)):
        at_s = midnight_s + _between(rng, _SNACK_WINDOW_H) * _HOUR_S
        carbs_g = _between(rng, _SNACK_G)
        if rng.random() < _SNACK_BOLUSED_SHARE:
            events += _bolused(p, rng, at_s, carbs_g, EventKind.SNACK)
        else:
            events.append(Event(at_s, EventKind.SNACK, carbs_g))
    if rng.random() < p.exercise_probability:
        at_s = midnight_s + _between(rng, _EXERCISE_WINDOW_H) * _HOUR_S
        duration_s = _between(rng, _EXERCISE_MIN) * _MIN_S
        events.append(Event(at_s, EventKind.EXERCISE, _between(rng, _EXERCISE_UPTAKE_MG_DL_MIN),
                            duration_s))  # fmt: skip
    return events


def _days(clock0_s: float, duration_s: float) -> range:
    """Calendar days (0 = the start's) whose events can fall inside the trace."""
    return range(math.ceil((clock0_s + duration_s) / _DAY_S) + 1)


def _plan(
    p: GlucoseProfile, rng: np.random.Generator, clock0_s: float, duration_s: float
) -> list[Event]:
    events = [
        e for d in _days(clock0_s, duration_s) for e in _day_plan(p, rng, d * _DAY_S - clock0_s)
    ]
    return [e for e in events if 0.0 <= e.at_s < duration_s]


# --- the body: inputs per minute, then integration ----------------------------------------------


@dataclass(frozen=True, slots=True)
class _Drive:
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
        fading = np.exp(-np.maximum(t_s - end_s, 0.0) / (_EXERCISE_AFTER_MIN * _MIN_S))
        effect = np.maximum(effect, np.where(t_s >= e.at_s, fading, 0.0))
    return uptake, effect


def _drive(
    p: GlucoseProfile, events: list[Event], rng: np.random.Generator, clock0_s: float, n: int
) -> _Drive:
    t_s = np.arange(n, dtype=np.float64) * _MIN_S
    hour = ((clock0_s + t_s) / _HOUR_S) % 24.0
    inputs = {"insulin": np.full(n, p.basal_u_per_h / 60.0), "carbs": np.zeros(n)}
    for e in (e for e in events if e.kind in _INPUT_OF):
        inputs[_INPUT_OF[e.kind]][int(e.at_s // _MIN_S)] += e.amount
    uptake, exercise = _exercise(events, t_s)
    days = _days(clock0_s, float(t_s[-1]))
    midday_s = np.array([(d + 0.5) * _DAY_S - clock0_s for d in days])
    daily = np.interp(t_s, midday_s, rng.lognormal(0.0, p.daily_sensitivity_sd, len(days)))
    dawn = np.where(np.abs(hour - 6.0) < 3.0, 0.5 * (1.0 + np.cos(np.pi * (hour - 6.0) / 3.0)), 0.0)
    egp = p.isf_mg_dl_per_u * p.basal_need_u_per_h / 60.0 * (1.0 + p.dawn_fraction * dawn)
    sensitivity = daily * (1.0 + _EXERCISE_SENSITIVITY_BOOST * exercise)
    asleep = (hour >= _SLEEP_H[0]) | (hour < _SLEEP_H[1])
    return _Drive(inputs["insulin"], inputs["carbs"], uptake, sensitivity, egp, asleep)


_COUNTER_REG_BELOW_MG_DL = 65.0
_COUNTER_REG_PER_MIN = 0.01
_RESCUE_PEAK_MIN = 10.0
_RESCUE_G = (15.0, 30.0)
_RECHECK_MIN = 15  # the 15-15 rule: re-treat if still low 15 min later
# asleep -> (symptom threshold lowered by mg/dL, reaction slowed by factor)
_SYMPTOMS: Mapping[bool, tuple[float, float]] = MappingProxyType(
    {False: (0.0, 1.0), True: (12.0, 2.0)}
)


def _integrate(
    p: GlucoseProfile, d: _Drive, rng: np.random.Generator
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
            grams = _between(rng, _RESCUE_G)
            r1 += grams
            rescues.append(Event((k + 1) * _MIN_S, EventKind.RESCUE, grams))
            next_rescue_k = k + _RECHECK_MIN
    return np.array(out), rescues


# --- the sensor ----------------------------------------------------------------------------------

_COMPRESSION_WINDOW_H = (-0.5, 6.5)  # around the day's midnight: 23:30-06:30
_COMPRESSION_MIN = (15.0, 30.0)
_COMPRESSION_DROP_MG_DL = (30.0, 60.0)


def _compressions(
    p: GlucoseProfile, rng: np.random.Generator, clock0_s: float, duration_s: float
) -> list[Event]:
    events = []
    for day in _days(clock0_s, duration_s):
        for _ in range(rng.poisson(p.compressions_per_night)):
            at_s = day * _DAY_S - clock0_s + _between(rng, _COMPRESSION_WINDOW_H) * _HOUR_S
            length_s = _between(rng, _COMPRESSION_MIN) * _MIN_S
            drop = _between(rng, _COMPRESSION_DROP_MG_DL)
            events.append(Event(at_s, EventKind.COMPRESSION, drop, length_s))
    return [e for e in events if 0.0 <= e.at_s < duration_s]


# --- the public result ---------------------------------------------------------------------------


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
    if not (days > 0 and _MIN_S <= cadence_s <= days * _DAY_S):
        raise ValueError("need days > 0 and 60 s <= cadence_s <= the trace's length")
    start, duration_s = start.astimezone(UTC), days * _DAY_S
    clock0_s = (start - start.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds()
    rng = {s: _rng(seed, profile.patient_index, s) for s in _Stream if s is not _Stream.PROFILE}
    plan = _plan(profile, rng[_Stream.PLAN], clock0_s, duration_s)
    drive = _drive(profile, plan, rng[_Stream.PLAN], clock0_s, math.ceil(duration_s / _MIN_S) + 1)
    true_per_min, rescues = _integrate(profile, drive, rng[_Stream.RESCUE])
    times_s = np.arange(int(duration_s // cadence_s), dtype=np.float64) * cadence_s
    compressions = _compressions(profile, rng[_Stream.SENSOR], clock0_s, duration_s)
    interstitial = interstitial_glucose(profile.interstitial_lag_min, true_per_min)
    drops = [(e.at_s, e.duration_s, e.amount) for e in compressions]
    sensor = sensor_readings(interstitial, times_s, cadence_s, drops, rng[_Stream.SENSOR])
    true = np.interp(times_s / _MIN_S, np.arange(len(true_per_min)), true_per_min)
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
