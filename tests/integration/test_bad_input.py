"""Bad input gets a clear answer and loses nothing (DESIGN 3): every refusal is stored with its
reason and counted, valid traffic around it is stored in full, and the ingest keeps running."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

from api import registry
from ingest.contract import readings_topic
from tests.integration.conftest import eventually
from tests.integration.devices import bp_device, bp_payload, connect, enrol
from tests.integration.stack import running_stack
from vigil.demo import provision_devices
from vigil.settings import Settings

pytestmark = pytest.mark.asyncio


async def scalar(aconn: psycopg.AsyncConnection[Any], sql: str, *args: object) -> Any:
    cur = await aconn.execute(sql, args)
    row = await cur.fetchone()
    return None if row is None else row[0]


@pytest.mark.timeout(120)
async def test_bad_payloads_are_rejected_with_reasons_and_valid_ones_all_stored(
    settings: Settings, dsn: str, aconn: psycopg.AsyncConnection[Any], tag: str, tmp_path: Path
) -> None:
    patients, _ = await enrol(settings, dsn, tag, patients=2)
    good, other = bp_device(patients, 0), bp_device(patients, 1)
    # A registered device with credentials but no binding: its readings go to quarantine.
    loose = f"{tag}-loose-bp"
    await registry.upsert_device(aconn, loose, "bp_cuff", 43200)
    await provision_devices(settings, dsn, [loose])

    def spo2(seq: int, ts: str, **reading: object) -> bytes:
        values = {"metric": "spo2", "value": 97, "unit": "%", **reading}
        return orjson.dumps({"v": 1, "device_id": good, "seq": seq, "ts": ts, "readings": [values]})

    now = datetime.now(UTC).isoformat()
    bad = [
        (b"{not json", "malformed"),
        (bp_payload(good, 11, 120.0, context={"pad": "x" * 100_000}), "oversized"),
        (bp_payload(other, 12, 120.0), "device_mismatch"),  # names another device
        (bp_payload(good, 13, 400.0, 90.0), "implausible"),
        (spo2(14, "2026-01-01T00:00:00+00:00"), "too_old"),
        (spo2(15, "2999-01-01T00:00:00+00:00"), "clock_skew"),
        (spo2(16, now, metric="glucose", value=5.5, unit=None), "missing_unit"),
    ]
    async with running_stack(settings, dsn, tag, "embedded", tmp_path) as stack:
        device = await connect(settings, good)
        seq = 100
        for payload, _ in bad:
            # valid traffic interleaved with every bad payload
            await device.publish_raw(readings_topic(good), bp_payload(good, seq, 125.0))
            seq += 1
            reason = await device.publish_raw(readings_topic(good), payload)
            assert not reason.is_failure  # the broker took it; the ingest answers with a reason
        loose_conn = await connect(settings, loose)
        await loose_conn.publish_raw(readings_topic(loose), bp_payload(loose, 1, 130.0))

        async def settled() -> bool:
            stored = await scalar(aconn, "SELECT count(*) FROM readings WHERE device_id = %s", good)
            rejected = await scalar(aconn, "SELECT count(*) FROM rejected_readings")
            # every valid payload (3 readings each) plus the 2 valid readings next to SBP 400
            return stored == 3 * len(bad) + 2 and rejected >= len(bad) + 1

        assert await eventually(settled), stack.tail()
        cur = await aconn.execute(
            "SELECT reason, count(*) FROM rejected_readings WHERE device_id IS NULL OR device_id LIKE %s GROUP BY 1",
            (f"{tag}-%",),
        )
        reasons = dict(await cur.fetchall())
        expected = {reason for _, reason in bad} | {"unbound_device"}
        assert set(reasons) == expected
        assert reasons["implausible"] == 1  # SBP 400 only; its DBP and pulse were stored
        assert (
            await scalar(
                aconn, "SELECT count(*) FROM readings WHERE device_id = %s AND seq = 13", good
            )
            == 2
        )

        # The quarantined reading keeps its whole payload, for replay once the device is bound.
        kept = await scalar(
            aconn, "SELECT payload FROM rejected_readings WHERE reason = 'unbound_device'"
        )
        assert orjson.loads(kept)["device_id"] == loose
        oversized = await scalar(
            aconn, "SELECT payload_bytes FROM rejected_readings WHERE reason = 'oversized'"
        )
        assert oversized > 100_000

        # The device hears which of its seqs were refused, and its contiguous ack moves past them.
        async def acked() -> bool:
            return device.acked_seq >= seq - 1

        assert await eventually(acked, timeout_s=10)
        assert device.rejected.get(13) == "implausible"

        # ... and the ingest is still up and storing
        await device.publish_raw(readings_topic(good), bp_payload(good, seq, 118.0))

        async def last_one() -> bool:
            return (
                await scalar(
                    aconn,
                    "SELECT count(*) FROM readings WHERE device_id = %s AND seq = %s",
                    good,
                    seq,
                )
                == 3
            )

        assert await eventually(last_one)
        device.disconnect()
        loose_conn.disconnect()


@pytest.mark.timeout(120)
async def test_a_device_that_keeps_sending_bad_data_raises_a_technical_alert(
    settings: Settings, dsn: str, aconn: psycopg.AsyncConnection[Any], tag: str, tmp_path: Path
) -> None:
    patients, _ = await enrol(settings, dsn, tag, patients=1)
    cuff = bp_device(patients)
    async with running_stack(settings, dsn, tag, "embedded", tmp_path) as stack:
        device = await connect(settings, cuff)
        for i in range(25):  # the default threshold is 20 bad payloads in 10 minutes
            await device.publish_raw(readings_topic(cuff), b"\x00garbage %d" % i)
        for _ in range(5):  # the same bytes again (a device retrying): counted, stored once
            await device.publish_raw(readings_topic(cuff), b"\x00garbage 0")

        async def alerted() -> Any:
            return await scalar(
                aconn,
                "SELECT count FROM technical_alerts WHERE kind = 'device_bad_data' AND subject = %s",
                cuff,
            )

        assert await eventually(alerted) == 1, stack.tail()

        async def all_kept() -> bool:
            # The alert comes with the batch that crossed the threshold; later batches follow.
            sql = "SELECT count(*) FROM rejected_readings WHERE reason = 'malformed'"
            return bool(await scalar(aconn, sql) == 25)

        assert await eventually(all_kept), stack.tail()
        device.disconnect()
