"""One operator core, two runners: the same scripted scenario through the embedded runner and
through Kafka + Faust gives exactly the same detections, also when the Faust worker is killed
with SIGKILL in the middle of the episodes and its state has to come back from the changelog."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from tests.integration.conftest import Databases, eventually
from tests.integration.devices import enrol
from tests.integration.script import Sent, now_minus, scenario, send
from tests.integration.stack import Stack, running_stack
from vigil.settings import Settings

pytestmark = [pytest.mark.asyncio, pytest.mark.kafka, pytest.mark.timeout(300)]

FAST_TIMERS = {"VIGIL_STREAM__IDLE_FLUSH_S": "2", "VIGIL_STREAM__TICK_S": "0.5"}
DETECTIONS = """SELECT id, rule_id, kind, late, device_id, seq, metric, value, details, rule_version
                  FROM detections ORDER BY id"""


async def count(dsn: str, sql: str) -> int:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        row = await (await conn.execute(sql)).fetchone()
        return int(row[0]) if row else 0


async def settle(dsn: str, readings: int, stack: Stack) -> list[tuple[Any, ...]]:
    """Wait until every reading is stored and the detections have stopped changing for longer
    than the idle flush and a few ticks (the quiet streams are then final)."""

    async def stored() -> bool:
        return await count(dsn, "SELECT count(*) FROM readings") >= readings

    assert await eventually(stored, timeout_s=90), (
        await count(dsn, "SELECT count(*) FROM readings"),
        readings,
        stack.tail(5),
    )
    last, stable_since = -1, asyncio.get_running_loop().time()
    while asyncio.get_running_loop().time() - stable_since < 5.0:
        n = await count(dsn, "SELECT count(*) FROM detections")
        if n != last:
            last, stable_since = n, asyncio.get_running_loop().time()
        await asyncio.sleep(0.25)
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        return await (await conn.execute(DETECTIONS)).fetchall()


async def run(settings: Settings, dsn: str, tag: str, bus: str, tmp_path: Path, script: list[list[Sent]],
              kill_after: int | None = None) -> list[tuple[Any, ...]]:  # fmt: skip
    async with running_stack(settings, dsn, tag, bus, tmp_path, **FAST_TIMERS) as stack:
        if kill_after is None:
            readings = await send(settings, script)
        else:
            readings = await send(settings, script, upto=kill_after)
            assert await eventually(lambda: _at_least(dsn, readings), timeout_s=60), stack.tail()
            # kill once the worker has committed what it has: the restart must then recover
            # the operator state from the changelog rather than re-read the episodes' start
            assert await eventually(lambda: _committed(settings, stack), timeout_s=30)
            stack.stop("worker", signal.SIGKILL)
            stack.start("worker", "worker")
            readings += await send(settings, script, start=kill_after)
        return await settle(dsn, readings, stack)


async def _at_least(dsn: str, readings: int) -> bool:
    return await count(dsn, "SELECT count(*) FROM readings") >= readings


async def _committed(settings: Settings, stack: Stack) -> bool:
    """The worker's consumer group has committed every record now on the readings topic."""
    bootstrap = settings.kafka.bootstrap
    topic, group = stack.env["VIGIL_KAFKA__READINGS_TOPIC"], stack.env["VIGIL_KAFKA__APP_ID"]
    admin, consumer = (
        AIOKafkaAdminClient(bootstrap_servers=bootstrap),
        AIOKafkaConsumer(bootstrap_servers=bootstrap),
    )
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
        tps = [TopicPartition(topic, p) for p in range(settings.kafka.partitions)]
        ends = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
        await admin.close()
    return bool(ends) and all(end == 0 or (tp in committed and committed[tp].offset >= end)
                              for tp, end in ends.items())  # fmt: skip


async def test_embedded_and_faust_give_identical_detections(
    settings: Settings, databases: Databases, tag: str, tmp_path: Path
) -> None:
    end = now_minus(2)
    results = []
    for bus in ("embedded", "kafka"):
        dsn = databases.create(tag + bus[0])
        patients, _ = await enrol(settings, dsn, tag, patients=6)
        results.append(await run(settings, dsn, tag, bus, tmp_path, scenario(patients, end)))
    embedded, faust = results
    rules = {row[1] for row in embedded}
    assert {"glucose.predicted_low", "glucose.level1_low", "glucose.level2_low", "weight.gain_3d",
            "bp.crisis", "bp.crisis_suspected", "glucose.level1_low_meter", "news2.high",
            "spo2.review", "spo2.desaturation"} <= rules  # fmt: skip
    assert embedded == faust


async def test_a_killed_faust_worker_recovers_its_state_and_misses_nothing(
    settings: Settings, databases: Databases, tag: str, tmp_path: Path
) -> None:
    end = now_minus(2)
    results = []
    for bus, kill_after in (("embedded", None), ("kafka", 2)):
        dsn = databases.create(tag + bus[0])
        patients, _ = await enrol(settings, dsn, tag, patients=6)
        # kill after each device's first two messages: mid-CGM fall, between the crisis
        # reading and its confirming re-measure, between the SpO2 readings of a persistence run
        results.append(
            await run(settings, dsn, tag, bus, tmp_path, scenario(patients, end), kill_after)
        )
    reference, recovered = results
    missing = [r[1:] for r in reference if r not in recovered]
    extra = [r[1:] for r in recovered if r not in reference]
    assert recovered == reference, (missing, extra)
    assert any(
        row[1] == "bp.crisis" and row[2] == "fired" for row in recovered
    )  # confirmed after the restart
