"""Detection-quality scoring: episodes, lead times, false alerts, and what counts as one alert."""

from __future__ import annotations

import numpy as np
import pytest

from bench.quality import FAMILIES, baseline_alerts, openings, score
from simulators.cohorts import Truth, cohort, runs
from stream.detections import Kind

H = 3600.0


def truth(abnormal_hours: list[tuple[float, float]], days: float = 1.0) -> Truth:
    grid = np.arange(0.0, days * 86_400.0, 60.0)
    abnormal = np.zeros(len(grid), dtype=bool)
    for a, b in abnormal_hours:
        abnormal |= (grid >= a * H) & (grid < b * H)
    return Truth(grid, abnormal, runs(grid, abnormal, 900.0))


def test_runs_keep_only_episodes_long_enough() -> None:
    grid = np.arange(0.0, 3600.0, 60.0)
    abnormal = (grid >= 600) & (grid < 1200) | (grid >= 1800) & (grid < 2100)
    assert runs(grid, abnormal, 600.0) == ((600.0, 1200.0),)  # 10 min kept, 5 min dropped


def test_a_run_at_the_end_of_the_grid_lasts_to_one_step_past_its_last_sample() -> None:
    grid = np.arange(0.0, 3600.0, 300.0)  # 12 samples, 5 min apart
    abnormal = grid >= 2700.0  # the last three samples: 15 min
    assert runs(grid, abnormal, 900.0) == ((2700.0, 3600.0),)


@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [(0.0, 599.0, False), (0.0, 600.0, True), (600.0, 600.0, True), (601.0, 2000.0, False)],
)
def test_abnormal_between_includes_both_ends_and_nothing_past_them(
    lo: float, hi: float, expected: bool
) -> None:
    grid = np.arange(0.0, 1800.0, 300.0)
    t = Truth(grid, (grid >= 600.0) & (grid < 900.0), ())  # abnormal at 600 only
    assert t.abnormal_between(lo, hi) is expected


@pytest.mark.parametrize(
    ("alert_h", "detected", "lead_min", "false"),
    [
        (9.5, 1, 30.0, 0),  # half an hour before the episode: early and true
        (10.5, 1, -30.0, 0),  # during it: late but true
        (8.5, 0, None, 1),  # 90 min before: too early to count, nothing abnormal within the hour
        (14.0, 0, None, 1),  # hours after: nothing abnormal around it
    ],
)
def test_an_alert_scores_by_its_place_relative_to_the_episode(
    alert_h: float, detected: int, lead_min: float | None, false: int
) -> None:
    s = score([truth([(10.0, 11.0)])], [[alert_h * H]], days=1.0)
    assert (s.episodes, s.detected, s.false_alerts) == (1, detected, false)
    assert s.figures()["median_lead_min"] == lead_min


def test_repeats_update_one_alert_until_cleared_or_quiet() -> None:
    events = [
        ("r", Kind.FIRED, 0.0),
        ("r", Kind.FIRED, 300.0),  # repeat: same alert
        ("r", Kind.CLEARED, 600.0),
        ("r", Kind.FIRED, 900.0),  # after the clear: a new alert
        ("q", Kind.FIRED, 950.0),  # another rule: another alert
        ("r", Kind.FIRED, 900.0 + 2 * H),  # quiet for two hours: a new alert
    ]
    assert openings(events) == [0.0, 900.0, 950.0, 900.0 + 2 * H]


def test_the_baseline_alerts_once_per_run_beyond_the_threshold() -> None:
    (case,) = cohort("low_glucose", 1, 1.0, seed=3)
    (alerts,) = baseline_alerts([case], FAMILIES["low_glucose"])
    lows = [m.message.measurements[0].value < 70 for m in case.messages]
    starts = sum(1 for i, low in enumerate(lows) if low and (i == 0 or not lows[i - 1]))
    assert len(alerts) == starts


def test_cohorts_are_seeded() -> None:
    a, b = cohort("bp_crisis", 4, 1.0, seed=5), cohort("bp_crisis", 4, 1.0, seed=5)
    assert [c.messages for c in a] == [c.messages for c in b]
    assert any(c.truth.episodes for c in a)  # some crises exist to be found
