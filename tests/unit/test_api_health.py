"""The API's health status word and its shared database probe (api.health)."""

from __future__ import annotations

import asyncio

import pytest

from api.health import Readiness, overall


@pytest.mark.parametrize(
    ("database_up", "alarms", "feed_stopped", "status"),
    [
        (True, False, False, "ok"),
        (True, True, False, "alarm"),
        (True, False, True, "alarm"),
        (False, False, False, "unavailable"),  # never "ok" while the database is unreachable
        (False, True, True, "unavailable"),
    ],
)
def test_the_status_word(database_up: bool, alarms: bool, feed_stopped: bool, status: str) -> None:
    assert overall(database_up, alarms, feed_stopped) == status


@pytest.mark.asyncio
async def test_concurrent_callers_share_one_probe_and_later_ones_probe_again() -> None:
    release = asyncio.Event()
    probes: list[int] = []

    async def probe() -> float | None:
        probes.append(len(probes))
        await release.wait()
        return 0.001 * len(probes)

    ready = Readiness(probe)
    callers = [asyncio.create_task(ready.round_trip_s()) for _ in range(50)]
    await asyncio.sleep(0)  # every caller is now waiting on the one probe
    release.set()
    assert set(await asyncio.gather(*callers)) == {0.001}
    assert len(probes) == 1
    assert await ready.round_trip_s() == 0.002  # a caller after it gets a fresh answer
