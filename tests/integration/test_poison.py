"""Poison messages are quarantined, never fatal (issue 14, finding 1).

A reading whose `context` is nested ~1,000 levels deep passed the JSON parser, made psycopg's
jsonb dump raise RecursionError, and `vigil run` exited; the broker redelivered it on every
start. Now the contract drops such a context (`bad_context`, readings kept), and whatever still
makes a store raise is isolated: that one message goes to `rejected_readings` as `unstorable`
and the rest of its batch is stored.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

from ingest.contract import Limits, readings_topic
from tests.integration.conftest import eventually
from tests.integration.devices import bp_device, bp_payload, connect, enrol
from tests.integration.ingest_world import ingest_world
from tests.integration.stack import running_stack
from vigil.settings import Settings

pytestmark = pytest.mark.asyncio


def deep(device: str, seq: int, depth: int = 1_000) -> bytes:
    """The issue's poison message: 6 KB of `{"a":` nested `depth` levels deep."""
    ts = (datetime.now(UTC) - timedelta(minutes=1)).isoformat().encode()
    head = b'{"v":1,"device_id":"%s","seq":%d,"ts":"%s",' % (device.encode(), seq, ts)
    head += b'"readings":[{"metric":"spo2","value":97,"unit":"%"}],"context":'
    return head + b'{"a":' * depth + b"1" + b"}" * depth + b"}"


async def count(aconn: psycopg.AsyncConnection[Any], sql: str, *args: object) -> Any:
    cur = await aconn.execute(sql, args)
    row = await cur.fetchone()
    return None if row is None else row[0]


@pytest.mark.timeout(120)
async def test_vigil_run_survives_the_deep_context_and_keeps_storing(
    settings: Settings, dsn: str, aconn: psycopg.AsyncConnection[Any], tag: str, tmp_path: Path
) -> None:
    patients, _ = await enrol(settings, dsn, tag, patients=1)
    device_id = bp_device(patients)
    async with running_stack(settings, dsn, tag, "embedded", tmp_path) as stack:
        device = await connect(settings, device_id)
        topic = readings_topic(device_id)
        await device.publish_raw(topic, bp_payload(device_id, 1, 121.0))
        await device.publish_raw(topic, deep(device_id, 2))
        await device.publish_raw(topic, bp_payload(device_id, 3, 122.0))

        async def all_stored() -> bool:
            n = await count(aconn, "SELECT count(*) FROM readings WHERE device_id = %s", device_id)
            return bool(n == 7)  # 3 + the poison's SpO2 (its context dropped) + 3

        assert await eventually(all_stored), stack.tail()
        assert stack.procs["run"].poll() is None, stack.tail()  # still running
        reason = await count(
            aconn,
            "SELECT reason FROM rejected_readings WHERE device_id = %s AND seq = 2",
            device_id,
        )
        assert reason == "bad_context"
        context = await count(
            aconn, "SELECT context FROM readings WHERE device_id = %s AND seq = 2", device_id
        )
        assert context is None


@pytest.mark.parametrize("where", ["pipeline", "ingest"])
@pytest.mark.timeout(60)
async def test_a_message_the_store_refuses_is_quarantined_and_the_batch_stored(
    settings: Settings, dsn: str, tag: str, where: str
) -> None:
    """Past the contract (bounds lifted here), the database's serialiser still raises on the
    deep context: the pipeline (both runners) or else the ingest isolates that one message."""
    device = f"{tag}-cuff"
    lax = Limits(max_context_depth=10_000, max_context_keys=10_000, max_context_chars=100_000)
    async with ingest_world(settings, dsn, tag, [device], limits=lax,
                            pipeline_quarantine=where == "pipeline") as world:  # fmt: skip
        batch = [bp_payload(device, s, 120.0 + s) for s in range(10)]
        batch[4] = deep(device, 4)
        result = await world.send(device, *batch)
        assert result.device_acks == {device: 9}
        stored = await world.rows(
            "SELECT DISTINCT seq FROM readings WHERE device_id = %s ORDER BY 1", device
        )
        assert [s for (s,) in stored] == [0, 1, 2, 3, 5, 6, 7, 8, 9]
        (kept,) = await world.rows(
            "SELECT reason, detail, payload FROM rejected_readings WHERE seq = 4"
        )
        assert kept[0] == "unstorable"
        assert "RecursionError" in kept[1]
        replayable = orjson.loads(kept[2])
        assert replayable["readings"] == [{"metric": "spo2", "value": 97.0, "unit": "%"}]
        assert result.rejected_seqs == ({device: [(4, "unstorable")]} if where == "ingest" else {})
        counters = (world.pipeline.stats.quarantined, world.service.stats.quarantined)
        assert counters == ((1, 0) if where == "pipeline" else (0, 1))
        # and the ingest goes on
        await world.send(device, bp_payload(device, 10, 130.0))
        assert len(await world.rows("SELECT 1 FROM readings WHERE seq = 10")) == 3
