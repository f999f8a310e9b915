"""Exactly-once that survives resends and crashes (issue 14, findings 5 and 6).

Finding 5: a SenML pack with relative times resent byte for byte was stored again each time (its
times are relative to receipt, so every copy had new measurement times and a new key); a reused
seq with a different timestamp added a row; a reused seq with the same timestamp and a different
value was dropped without a word. Now `(device_id, seq)` is the one natural key of a message in
every shape (`reading_messages`), a copy with the same content (its fingerprint: readings as
sent, and the time as sent, relative or absolute) is a duplicate, and a copy with other content
is refused as `seq_reused`.

Finding 6: after a `kill -9` the ack tracker restarted from the last retained ack, which lags
the database, so no stored reading was confirmed again (devices kept buffering and resending);
and above 1,000 pending seqs a gap was given up by acknowledging past it, which confirmed
readings never stored. Now the tracker is advanced by the database's truth at start and
whenever a gap overflows its memory, and never acknowledges past a seq the database lacks.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from ingest.repository import PgHandledSeqs
from ingest.sequence import SeqTracker
from ingest.startup import seed_acks
from tests.integration.devices import bp_payload
from tests.integration.ingest_world import IngestWorld, ingest_world
from vigil.runtime import RETRIABLE
from vigil.settings import Settings

pytestmark = pytest.mark.asyncio


def senml_relative(device: str, seq: int, glucose: float) -> bytes:
    return orjson.dumps(
        [{"bn": f"urn:dev:id:{device}:", "seq": seq, "n": "glucose", "u": "mg/dL", "v": glucose,
          "t": -60}]
    )  # fmt: skip


def spo2(device: str, seq: int, value: float, at: datetime) -> bytes:
    return orjson.dumps(
        {"v": 1, "device_id": device, "seq": seq, "ts": at.isoformat(),
         "readings": [{"metric": "spo2", "value": value, "unit": "%"}]}
    )  # fmt: skip


async def stored(world: IngestWorld, device: str) -> list[tuple[int, str, float]]:
    rows = await world.rows(
        "SELECT seq, metric, value FROM readings WHERE device_id = %s ORDER BY 1, 2", device
    )
    return [(s, m, v) for s, m, v in rows]


async def refused(world: IngestWorld, device: str) -> list[tuple[int, str]]:
    rows = await world.rows(
        "SELECT seq, reason FROM rejected_readings WHERE device_id = %s ORDER BY 1", device
    )
    return [(s, r) for s, r in rows]


@pytest.mark.timeout(60)
async def test_a_senml_pack_with_relative_times_resent_byte_for_byte_is_stored_once(
    settings: Settings, dsn: str, tag: str
) -> None:
    device = f"{tag}-cgm"
    now = datetime.now(UTC)
    async with ingest_world(settings, dsn, tag, [device]) as world:
        pack = senml_relative(device, 5, 110.0)
        for delay_s in (0, 3, 40, 600):  # reconnect loops: the same bytes, later each time
            await world.send(device, pack, at=now + timedelta(seconds=delay_s))
        assert await stored(world, device) == [(5, "glucose", 110.0)]
        assert await refused(world, device) == []
        (time,) = await world.rows("SELECT time FROM readings WHERE device_id = %s", device)
        assert time[0] == now - timedelta(seconds=60)  # the first copy's time is kept


@pytest.mark.timeout(60)
async def test_a_reused_seq_with_other_content_is_refused_never_kept_or_dropped_silently(
    settings: Settings, dsn: str, tag: str
) -> None:
    device = f"{tag}-ox"
    at = datetime.now(UTC) - timedelta(minutes=10)
    async with ingest_world(settings, dsn, tag, [device]) as world:
        await world.send(device, spo2(device, 1, 97, at), spo2(device, 2, 96, at))
        await world.send(device, spo2(device, 1, 97, at))  # a true resend: a duplicate
        await world.send(device, spo2(device, 1, 97, at + timedelta(minutes=1)))  # other time
        await world.send(device, spo2(device, 2, 89, at))  # same time, other value
        # ... and both in one batch with the original
        await world.send(device, spo2(device, 3, 95, at), spo2(device, 3, 91, at))
        assert await stored(world, device) == [(1, "spo2", 97.0), (2, "spo2", 96.0),
                                               (3, "spo2", 95.0)]  # fmt: skip
        assert await refused(world, device) == [(1, "seq_reused"), (2, "seq_reused"),
                                                (3, "seq_reused")]  # fmt: skip
        assert world.pipeline.stats.seq_reused == 3


@pytest.mark.timeout(60)
async def test_a_v1_message_resent_is_a_duplicate_whatever_its_batch(
    settings: Settings, dsn: str, tag: str
) -> None:
    device = f"{tag}-cuff"
    async with ingest_world(settings, dsn, tag, [device]) as world:
        message = bp_payload(device, 7, 150.0)
        await world.send(device, message, message)
        await world.send(device, bp_payload(device, 8, 151.0), message)
        assert [s for s, _, _ in await stored(world, device)] == [7, 7, 7, 8, 8, 8]
        assert await refused(world, device) == []


@pytest.mark.timeout(60)
async def test_after_a_crash_acks_resume_at_once_from_the_database(
    settings: Settings, dsn: str, tag: str
) -> None:
    device, other = f"{tag}-cuff", f"{tag}-gap"
    async with ingest_world(settings, dsn, tag, [device, other]) as world:
        await world.send(device, *(bp_payload(device, s, 120.0) for s in range(0, 40)))
        await world.send(device, bp_payload(device, 40, 400.0))  # refused: handled all the same
        await world.send(device, *(bp_payload(device, s, 120.0) for s in range(41, 100)))
        await world.send(other, *(bp_payload(other, s, 120.0) for s in range(0, 100) if s != 60))
        # kill -9: the retained acks said 10 and 5; the database holds far more
        restarted = SeqTracker()
        advanced = await seed_acks(restarted, {device: 10, other: 5}, PgHandledSeqs(world.pool),
                                   RETRIABLE)  # fmt: skip
        assert advanced == 2
        assert (restarted.acked(device), restarted.acked(other)) == (99, 59)  # never past 60
        world.service.tracker = restarted
        result = await world.send(device, bp_payload(device, 100, 121.0))
        assert result.device_acks == {device: 100}  # the first message after the restart


@pytest.mark.timeout(60)
async def test_an_overflowing_gap_is_resolved_by_the_database_never_by_giving_up(
    settings: Settings, dsn: str, tag: str
) -> None:
    device = f"{tag}-cuff"
    async with ingest_world(settings, dsn, tag, [device]) as world:
        await world.send(device, *(bp_payload(device, s, 120.0) for s in range(0, 31)))
        world.service.tracker = SeqTracker(max_pending=5)
        world.service.tracker.seed(device, 10)  # a lagging start, 11..30 stored meanwhile
        result = await world.send(device, *(bp_payload(device, s, 120.0) for s in range(40, 51)))
        assert result.device_acks == {device: 30}  # 31..39 were never stored: not confirmed
        alarms = await world.rows(
            "SELECT kind, detail FROM technical_alerts WHERE subject = %s", device
        )
        assert [(kind, detail.split(":")[0]) for kind, detail in alarms] == [
            ("device_seq_gap", "acks wait at seq 30")
        ]
        result = await world.send(device, *(bp_payload(device, s, 120.0) for s in range(31, 40)))
        assert result.device_acks == {device: 50}
