"""The pipeline's own alarms: raised once after their grace period, cleared once."""

from __future__ import annotations

import pytest

from stream.health import HealthLimits, Observation, PipelineHealth

LIMITS = HealthLimits(no_data_s=600, lag_readings=1000, lag_grace_s=60, db_refusing_s=30)


def obs(now: float, *, quiet: float = 1, lag: int = 0, failing: float = 0) -> Observation:
    return Observation(now, quiet, lag, failing)


@pytest.mark.parametrize(
    ("observations", "raised"),
    [
        ([obs(0), obs(5)], []),
        ([obs(0, quiet=601)], ["pipeline_no_data"]),
        ([obs(0, lag=5000), obs(30, lag=5000)], []),  # within the grace period
        ([obs(0, lag=5000), obs(30, lag=5000), obs(61, lag=5000)], ["pipeline_lagging"]),
        ([obs(0, lag=5000), obs(30, lag=10), obs(61, lag=5000)], []),  # the clock restarts
        ([obs(0, failing=31), obs(5, failing=36)], ["database_refusing_writes"]),  # once
    ],
    ids=["healthy", "no-data", "lag-in-grace", "lag", "lag-recovered", "db-once"],
)
def test_alarms_are_raised_once(observations: list[Observation], raised: list[str]) -> None:
    health = PipelineHealth(LIMITS)
    changes = [a for o in observations for a in health.observe(o)]
    assert [a.kind for a in changes if a.raised] == raised
    assert sorted(health.active) == sorted(raised)


def test_an_alarm_clears_once_when_the_condition_is_gone() -> None:
    health = PipelineHealth(LIMITS)
    health.observe(obs(0, failing=40))
    cleared = health.observe(obs(5))
    assert [(a.kind, a.raised) for a in cleared] == [("database_refusing_writes", False)]
    assert health.observe(obs(10)) == []
    assert dict(health.active) == {}
