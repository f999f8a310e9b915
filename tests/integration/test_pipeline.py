"""End to end on real services: simulator -> Mosquitto -> ingest -> bus -> stream -> PostgreSQL,
and the crisis alert out to a websocket client. The same test runs on both buses."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
import websockets

from simulators.runner import RunConfig, Simulation
from tests.integration.conftest import eventually
from tests.integration.devices import bp_device, bp_payload, connect, enrol
from tests.integration.stack import running_stack
from vigil.settings import Settings

pytestmark = pytest.mark.asyncio


async def stored(aconn: psycopg.AsyncConnection[Any], tag: str) -> tuple[int, int]:
    cur = await aconn.execute(
        "SELECT count(*), count(DISTINCT (device_id, seq, metric)) FROM readings WHERE device_id LIKE %s",
        (f"{tag}-%",),
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


async def first_alert(ws_url: str, token: str) -> dict[str, Any]:
    async with websockets.connect(
        ws_url, additional_headers={"Authorization": f"Bearer {token}"}
    ) as ws:
        hello = json.loads(await ws.recv())
        assert hello["type"] == "hello"
        while True:
            event = json.loads(await ws.recv())
            if event["type"] == "alert_event":
                return event


@pytest.mark.timeout(180)
@pytest.mark.parametrize("bus", ["embedded", "kafka"])
async def test_every_reading_stored_once_and_the_crisis_reaches_a_clinician(
    settings: Settings,
    dsn: str,
    aconn: psycopg.AsyncConnection[Any],
    tag: str,
    bus: str,
    tmp_path: Path,
) -> None:
    patients, token = await enrol(settings, dsn, tag, patients=4)
    async with running_stack(settings, dsn, tag, bus, tmp_path) as stack:
        alert = asyncio.create_task(first_alert(stack.ws_url, token))

        # 1. ordinary traffic from the simulator (load mode, every device of the cohort)
        sim = Simulation(
            patients,
            RunConfig(settings.mqtt.host, settings.mqtt.port, settings.sim.secret.get_secret_value(),
                      rate=200.0, max_readings=400, progress=False, drain_s=20.0, record=True),
        )  # fmt: skip
        sim_stats = await sim.run()
        assert sim_stats.refused == {} and sim_stats.errors == {}
        expected = {(d, s, m) for d, s, metrics in sim.sent_log for m in metrics}

        # 2. duplicates and out-of-order readings, on purpose, plus the crisis
        # (a device re-sends a buffered message byte for byte: same seq, same measurement time)
        cuff = await connect(settings, bp_device(patients))
        first = bp_payload(cuff.device_id, 1_000, 128.0, minutes_ago=3)
        third = bp_payload(cuff.device_id, 1_002, 131.0, minutes_ago=1)
        crisis = bp_payload(cuff.device_id, 1_001, 196.0, 124.0, minutes_ago=2)
        scripted = [(1_000, first), (1_002, third), (1_001, crisis), (1_000, first), (1_002, third)]
        for seq, data in scripted:
            reason = await cuff.publish_raw(f"vigil/v1/devices/{cuff.device_id}/readings", data)
            assert not reason.is_failure
            expected |= {
                (cuff.device_id, seq, m) for m in ("systolic_bp", "diastolic_bp", "heart_rate")
            }

        async def all_stored() -> bool:
            return await stored(aconn, tag) == (len(expected), len(expected))

        assert await eventually(all_stored, timeout_s=60), (await stored(aconn, tag), len(expected))

        event = await asyncio.wait_for(alert, timeout=30)
        assert (event["patient_id"], event["rule_id"], event["value"]) == (
            patients[0].patient_id,
            "bp.crisis_suspected",
            196.0,
        )
        assert event["kind"] == "opened" and event["seq"] >= 1

        # nothing more arrives later: a marker sent after everything is stored last, and the
        # count is still exact, not a lower bound
        marker = bp_payload(cuff.device_id, 2_000, 120.0, minutes_ago=0.5)
        await cuff.publish_raw(f"vigil/v1/devices/{cuff.device_id}/readings", marker)
        expected |= {
            (cuff.device_id, 2_000, m) for m in ("systolic_bp", "diastolic_bp", "heart_rate")
        }
        assert await eventually(all_stored, timeout_s=30)
        cur = await aconn.execute("SELECT count(*) FROM alerts")
        assert (await cur.fetchone()) == (1,)
        cuff.disconnect()
