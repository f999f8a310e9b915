"""Rejected input is bounded (issue 14, finding 4).

Each refusal used to store its own copy of the whole payload: a payload of many bad readings
became as many copies (three payloads of 195 KB made 7,218 rows and 447 MB). Now a received
message's payload is kept whole once (on its first refusal, at most the contract's 64 KiB) and
every other refusal from it keeps a short excerpt; the refused bytes are counted; rows older
than the retention are deleted.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from ingest.ports import EXCERPT_BYTES, KEEP_PAYLOAD_BYTES
from ingest.repository import purge_rejected
from tests.integration.ingest_world import ingest_world
from vigil.settings import Settings

pytestmark = pytest.mark.asyncio


def bad_backlog(device: str, messages: int) -> bytes:
    """An offline backlog of `messages` messages, each with 5 implausible readings."""
    ts = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    bad = [("spo2", 10, "%"), ("heart_rate", 900, "/min"), ("glucose", 2, "mg/dL"),
           ("weight", 900, "kg"), ("body_temperature", 90, "Cel")]  # fmt: skip
    readings = [{"metric": m, "value": v, "unit": u, "pad": "x" * 40} for m, v, u in bad]
    return orjson.dumps(
        [{"v": 1, "device_id": device, "seq": s, "ts": ts, "readings": readings}
         for s in range(messages)]
    )  # fmt: skip


@pytest.mark.timeout(60)
async def test_a_payload_is_kept_whole_once_and_excerpted_for_every_other_refusal(
    settings: Settings, dsn: str, tag: str
) -> None:
    device = f"{tag}-cuff"
    async with ingest_world(settings, dsn, tag, [device]) as world:
        payload = bad_backlog(device, 100)  # 500 refusals of one ~50 KB payload
        assert 40_000 < len(payload) < KEEP_PAYLOAD_BYTES
        await world.send(device, payload)
        await world.send(device, payload)  # a redelivery adds nothing
        ((rows, stored, whole, total),) = await world.rows(
            "SELECT count(*), sum(length(payload)), count(*) FILTER"
            " (WHERE length(payload) = payload_bytes), sum(payload_bytes)"
            " FROM rejected_readings WHERE device_id = %s",
            device,
        )
        assert rows == 500
        assert whole == 1  # the full payload, once
        assert stored <= len(payload) + (rows - 1) * EXCERPT_BYTES
        assert total == rows * len(payload)  # every row says how big the payload was
        stats = world.service.stats.snapshot(world.service.tracker)
        assert stats["rejected_bytes"] == 2 * len(payload)  # received and refused, twice
        assert stats["rejected_bytes_stored"] == 2 * stored  # written twice, kept once


@pytest.mark.timeout(60)
async def test_rejected_rows_older_than_the_retention_are_deleted(
    settings: Settings, dsn: str, tag: str
) -> None:
    device = f"{tag}-cuff"
    now = datetime.now(UTC)
    async with ingest_world(settings, dsn, tag, [device]) as world:
        for days in (40, 31, 29, 1):
            await world.send(device, b"{not json %d" % days, at=now - timedelta(days=days))
        assert await purge_rejected(world.pool, now - timedelta(days=30), batch=1) == 2
        left = await world.rows("SELECT payload FROM rejected_readings ORDER BY received_at")
        assert [bytes(p) for (p,) in left] == [b"{not json 29", b"{not json 1"]
        assert await purge_rejected(world.pool, now - timedelta(days=30)) == 0
