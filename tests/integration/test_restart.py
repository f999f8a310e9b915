"""Invariant 1 across a crash: kill -9 the ingest in the middle of a backlog and restart it.
Every reading is stored exactly once, and no device is told to drop a reading that is not."""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ingest.acks import ack_payload
from ingest.contract import ack_topic, readings_topic
from simulators.runner import RunConfig, Simulation
from tests.integration.conftest import eventually
from tests.integration.devices import bp_device, bp_payload, connect, enrol
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


def publish_retained(settings: Settings, topic: str, payload: bytes, client_id: str) -> None:
    """Publish as the ingest's service account (the only one that may write ack topics)."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.username_pw_set(settings.mqtt.username, settings.mqtt.password.get_secret_value())
    client.connect(settings.mqtt.host, settings.mqtt.port)
    client.loop_start()
    try:
        client.publish(topic, payload, qos=1, retain=True).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.mark.timeout(120)
async def test_after_a_kill_acks_resume_at_once_though_the_retained_ack_lags(
    settings: Settings, dsn: str, aconn: psycopg.AsyncConnection[Any], tag: str, tmp_path: Path
) -> None:
    """Issue 14, finding 6: the tracker restarted from the retained ack, which lags the database
    after a kill -9 (acks are coalesced to one a second), so devices were never acked again."""
    patients, _ = await enrol(settings, dsn, tag, patients=1)
    cuff = bp_device(patients)
    topic = readings_topic(cuff)
    async with running_stack(settings, dsn, tag, "embedded", tmp_path) as stack:
        device = await connect(settings, cuff)
        for seq in range(60):
            await device.publish_raw(topic, bp_payload(cuff, seq, 120.0))

        async def all_stored() -> bool:
            cur = await aconn.execute("SELECT count(*) FROM readings WHERE device_id = %s", (cuff,))
            row = await cur.fetchone()
            return row is not None and row[0] == 180

        assert await eventually(all_stored), stack.tail()
        stack.stop("run", signal.SIGKILL)
        # What the device was last told lags what is stored, as within the coalescing second.
        stale = ack_payload(cuff, 10, [], datetime.now(UTC))
        await asyncio.to_thread(publish_retained, settings, ack_topic(cuff), stale,
                                f"{settings.mqtt.client_id}-downlink-{tag}")  # fmt: skip
        stack.start("run", "run")
        await stack.wait_healthy()
        await device.publish_raw(topic, bp_payload(cuff, 60, 121.0))

        async def acked() -> bool:
            return device.acked_seq == 60

        assert await eventually(acked, timeout_s=5), (device.acked_seq, stack.tail())
