"""Invariant 1 across a crash: kill -9 the ingest in the middle of a backlog and restart it.
Every reading is stored exactly once, and no device is told to drop a reading that is not."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from simulators.runner import RunConfig, Simulation
from tests.integration.conftest import eventually
from tests.integration.devices import enrol
from tests.integration.stack import running_stack
from vigil.settings import Settings

pytestmark = pytest.mark.asyncio


@pytest.mark.timeout(240)
async def test_a_killed_ingest_loses_nothing_and_stores_nothing_twice(
    settings: Settings, dsn: str, aconn: psycopg.AsyncConnection[Any], tag: str, tmp_path: Path
) -> None:
    patients, _ = await enrol(settings, dsn, tag, patients=6)
    async with running_stack(settings, dsn, tag, "embedded", tmp_path) as stack:
        sim = Simulation(patients, RunConfig(settings.mqtt.host, settings.mqtt.port,
                                             settings.sim.secret.get_secret_value(), rate=400.0,
                                             max_readings=1500, progress=False, drain_s=90.0,
                                             record=True, max_inflight=50,
                                             resend_after_s=20.0))  # fmt: skip
        run = __import__("asyncio").create_task(sim.run())

        async def some_stored() -> bool:
            cur = await aconn.execute("SELECT count(*) FROM readings")
            row = await cur.fetchone()
            return row is not None and row[0] > 300

        assert await eventually(some_stored, timeout_s=60)
        stack.stop(
            "run", signal.SIGKILL
        )  # mid-stream: no goodbye, no PUBACKs for what is in flight
        stack.start("run", "run")
        await stack.wait_healthy()
        stats = await run

    expected = {(d, s, m) for d, s, metrics in sim.sent_log for m in metrics}
    cur = await aconn.execute(
        "SELECT count(*), count(DISTINCT (device_id, seq, metric)) FROM readings WHERE device_id LIKE %s",
        (f"{tag}-%",),
    )
    assert await cur.fetchone() == (len(expected), len(expected))
    # Every device was acked for all it sent. Readings stored just before the kill, whose
    # coalesced ack had not gone out yet, are acked only once the device re-sends them (they
    # are duplicates by then): the tracker never acks past a seq it has not seen.
    assert stats.e2e_acked == len(sim.sent_log)
    assert stats.refused == {} and stats.errors == {}
