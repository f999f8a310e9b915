"""`vigil bench faults` judges each scenario against issue 14's bar (`bench.faults.held`): a
scenario with every invariant held passes, and breaking any one of them fails it."""

from __future__ import annotations

from typing import Any

import pytest

from bench.fault_scenarios import SCENARIOS
from bench.faults import cohort_prefixes, held
from simulators.fleet import cohort

HELD: dict[str, Any] = {
    "lost": 0,
    "unstored": 0,
    "duplicates": 0,
    "alerts_exactly_once": True,
    "alive": True,
    "recovery_s": 2.3,
    "quarantined": {},
}


def test_a_scenario_that_kept_every_invariant_is_ok() -> None:
    assert held(HELD)
    assert held({**HELD, "recovery_s": None})  # no restart (poison, takeover)
    assert held({**HELD, "poison_broker_acked": True, "quarantined": {"bad_context": 1}})
    assert held({**HELD, "takeover_refused": True, "ingest_disconnected": False})


@pytest.mark.parametrize(
    "broken",
    [
        {"lost": 1},  # an acknowledged reading not stored
        {"unstored": 3},  # sent, never stored, not acknowledged by the end
        {"duplicates": 1},
        {"alerts_exactly_once": False},  # an alarm missed or opened twice
        {"alive": False},
        {"recovery_s": 5.5},  # acks back later than 5 s after the restart
        {"poison_broker_acked": True, "quarantined": {}},  # the poison not quarantined
        {"takeover_refused": False},
        {"takeover_refused": True, "ingest_disconnected": True},  # refused, but kicked the ingest
    ],
)
def test_breaking_any_invariant_fails_the_scenario(broken: dict[str, Any]) -> None:
    assert not held({**HELD, **broken})


def test_every_scenario_of_a_run_gets_its_own_devices() -> None:
    """Scenarios sharing device ids see each other's retained acks: `database` and
    `database-crash` once shared a prefix, and the second one's acks froze (169 of 2,165)."""
    names = list(SCENARIOS)
    devices = [
        {d.device_id for p in cohort(3, 1, prefix=prefix) for d in p.devices}
        for prefix in cohort_prefixes("0a1b2", len(names))
    ]
    assert sum(len(d) for d in devices) == len(set().union(*devices))
