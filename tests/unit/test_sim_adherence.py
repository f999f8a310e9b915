"""Simulated adherence personas (simulators.adherence): steady patients measure almost always,
drifting ones less and less, paused ones not at all for days; automatic devices always send."""

from __future__ import annotations

import pytest

from simulators.adherence import DRIFTING, PAUSED, STEADY, Persona, adherence_of, takes


@pytest.mark.parametrize(
    ("adherence", "day", "p"),
    [
        (STEADY, -5.0, 0.95),
        (DRIFTING, -14.0, 0.95),
        (DRIFTING, -7.0, 0.60),  # halfway from 95 % to 25 %
        (DRIFTING, 0.0, 0.25),
        (DRIFTING, 3.0, 0.25),
        (PAUSED, -4.5, 0.95),
        (PAUSED, -4.0, 0.0),
        (PAUSED, 0.5, 0.0),
        (PAUSED, 1.0, 0.95),  # back after a day of the live run
    ],
)
def test_probability_by_day(adherence: object, day: float, p: float) -> None:
    assert adherence.probability(day) == pytest.approx(p)  # type: ignore[attr-defined]


def test_personas_by_patient_index() -> None:
    personas = [adherence_of(i).persona for i in range(10)]
    assert personas.count(Persona.STEADY) == 7 and personas[8] is Persona.PAUSED
    assert adherence_of(0).persona is Persona.STEADY  # the crisis patient keeps measuring


def test_share_of_measurements_taken_follows_the_persona() -> None:
    days = [d / 10 for d in range(-70, -40)]  # days -7.0 to -4.1: 30 slots
    taken = sum(takes(6, f"dev-{k}", "bp_cuff", d) for k in range(20) for d in days)
    assert 0.43 < taken / 600 < 0.63  # drifting: 60 % falling to 45.5 %, 53 % on average
    paused = [d / 10 for d in range(-40, 10)]  # days -4.0 to 0.9
    assert not any(takes(8, f"dev-{k}", "bp_cuff", d) for k in range(5) for d in paused)
    assert all(takes(8, "dev", "wearable", d) for d in days)  # a wearable sends by itself
