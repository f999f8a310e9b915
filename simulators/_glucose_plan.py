"""What happens to the glucose model's patient, planned ahead: meals and snacks, boluses (with
their slips), exercise, and night-time sensor compressions, as `Event`s. Pure and seeded by the
caller's generator; sources in `simulators/glucose.py`. Rescue carbs are not planned: they
depend on true glucose and come from `_glucose_body.integrate`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

import numpy as np

from simulators._glucose_profile import DAY_S, HOUR_S, MIN_S, GlucoseProfile, between


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
    dose_u = round(counted_g / p.carb_ratio_g_per_u * between(rng, factor_range), 1)
    bolus_at_s = at_s - between(rng, _PREBOLUS_MIN) * MIN_S
    eaten_g = carbs_g * between(rng, eaten_range)
    return [Event(bolus_at_s, EventKind.BOLUS, dose_u, slip=slip), Event(at_s, kind, eaten_g)]


def _day_plan(p: GlucoseProfile, rng: np.random.Generator, midnight_s: float) -> list[Event]:
    events: list[Event] = []
    for meal in _MEALS:
        at_s = midnight_s + meal.clock_h * HOUR_S + rng.normal(0.0, meal.jitter_min) * MIN_S
        carbs_g = float(np.clip(rng.normal(meal.carbs_g, meal.carbs_sd_g), *_MEAL_G))
        events += _bolused(p, rng, at_s, carbs_g, EventKind.MEAL)
    for _ in range(rng.poisson(_SNACKS_PER_DAY)):
        at_s = midnight_s + between(rng, _SNACK_WINDOW_H) * HOUR_S
        carbs_g = between(rng, _SNACK_G)
        if rng.random() < _SNACK_BOLUSED_SHARE:
            events += _bolused(p, rng, at_s, carbs_g, EventKind.SNACK)
        else:
            events.append(Event(at_s, EventKind.SNACK, carbs_g))
    if rng.random() < p.exercise_probability:
        at_s = midnight_s + between(rng, _EXERCISE_WINDOW_H) * HOUR_S
        duration_s = between(rng, _EXERCISE_MIN) * MIN_S
        events.append(Event(at_s, EventKind.EXERCISE, between(rng, _EXERCISE_UPTAKE_MG_DL_MIN),
                            duration_s))  # fmt: skip
    return events


def days_spanned(clock0_s: float, duration_s: float) -> range:
    """Calendar days (0 = the start's) whose events can fall inside the trace."""
    return range(math.ceil((clock0_s + duration_s) / DAY_S) + 1)


def plan_events(
    p: GlucoseProfile, rng: np.random.Generator, clock0_s: float, duration_s: float
) -> list[Event]:
    events = [
        e
        for d in days_spanned(clock0_s, duration_s)
        for e in _day_plan(p, rng, d * DAY_S - clock0_s)
    ]
    return [e for e in events if 0.0 <= e.at_s < duration_s]


# --- the sensor's artefacts ----------------------------------------------------------------------

_COMPRESSION_WINDOW_H = (-0.5, 6.5)  # around the day's midnight: 23:30-06:30
_COMPRESSION_MIN = (15.0, 30.0)
_COMPRESSION_DROP_MG_DL = (30.0, 60.0)


def plan_compressions(
    p: GlucoseProfile, rng: np.random.Generator, clock0_s: float, duration_s: float
) -> list[Event]:
    events = []
    for day in days_spanned(clock0_s, duration_s):
        for _ in range(rng.poisson(p.compressions_per_night)):
            at_s = day * DAY_S - clock0_s + between(rng, _COMPRESSION_WINDOW_H) * HOUR_S
            length_s = between(rng, _COMPRESSION_MIN) * MIN_S
            drop = between(rng, _COMPRESSION_DROP_MG_DL)
            events.append(Event(at_s, EventKind.COMPRESSION, drop, length_s))
    return [e for e in events if 0.0 <= e.at_s < duration_s]
