"""The ingest loop: MQTT batches through the service, then PUBACKs and device acks.

Glue between the paho adapter and the pure-ish service, run by the composition root. A batch
is acknowledged to the broker only after it is durable (`IngestService.store` returned).

Two stages, so that the ingest decodes while the database (or Kafka) makes earlier batches
durable; with one batch at a time Python and PostgreSQL took turns, each about half busy
(`vigil bench ingest`):

1. decode: each batch as it arrives, up to `in_flight` batches ahead of the store;
2. store, strictly in arrival order and one hand-off at a time: every decoded batch waiting is
   handed on together; once they are durable their PUBACKs go out, in arrival order (MQTT
   3.1.1, 4.6), while the next group is being handed on.

Keeping the store sequential keeps the order of readings: a batch that fails and is retried is
stored before anything that arrived after it (the stream would otherwise see the older readings
late, and Kafka could put them behind newer ones of the same patient), and the sequence tracker
sees seqs in arrival order.

A retriable failure (database or bus unavailable) retries the same batches with backoff,
holding their PUBACKs; the broker stops sending once `max_inflight_messages` (5,000) messages
are unacknowledged, so an outage turns into backpressure and queueing at the broker, not loss.
Any other exception propagates and stops the process: better down and alarmed than silently
wrong.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime

from ingest.acks import AckCoalescer, ack_payload
from ingest.contract import ack_topic
from ingest.metrics import Metrics
from ingest.mqtt import MqttReceiver
from ingest.ports import TechnicalAlert
from ingest.retry import retrying
from ingest.service import BatchResult, DecodedBatch, IngestService

log = logging.getLogger(__name__)


async def run_ingest(
    receiver: MqttReceiver,
    service: IngestService,
    *,
    clock: Callable[[], datetime],
    retriable: tuple[type[BaseException], ...],
    max_batch: int = 500,
    linger_s: float = 0.005,
    ack_interval_s: float = 1.0,
    in_flight: int = 8,
    metrics: Metrics | None = None,
) -> None:
    """Run until cancelled (or a non-retriable error). Each store's size and duration go to
    `metrics` (without, to a registry of its own nobody serves: every caller runs the same
    instrumented path)."""
    coalescer = AckCoalescer(ack_interval_s)
    observe = (metrics or Metrics()).stores.store
    decoded: asyncio.Queue[DecodedBatch] = asyncio.Queue(maxsize=in_flight)

    async def decode_ahead() -> None:
        async for batch in receiver.batches(max_batch, linger_s):
            await decoded.put(service.decode(batch))

    def acknowledge(batches: list[DecodedBatch], result: BatchResult) -> None:
        for b in batches:
            receiver.ack(b.raw)
        coalescer.record(result.device_acks, result.rejected_seqs)
        _publish_due(receiver, coalescer, clock)

    async def store(batches: list[DecodedBatch]) -> BatchResult:
        messages, started = sum(len(b.raw) for b in batches), time.monotonic()
        what = f"storing {messages} messages"
        result = await retrying(service.store, batches, retriable=retriable, what=what, log=log)
        observe(messages, time.monotonic() - started)
        return result

    async def store_in_order() -> None:
        durable: tuple[list[DecodedBatch], BatchResult] | None = None  # not acknowledged yet
        while True:
            batches = [await decoded.get()]
            while not decoded.empty():
                batches.append(decoded.get_nowait())
            storing = asyncio.create_task(store(batches))
            if durable is not None:  # thousands of PUBACKs, sent while the next group is written
                acknowledge(*durable)
            durable = (batches, await storing)
            if decoded.empty():  # nothing to overlap with: acknowledge now
                acknowledge(*durable)
                durable = None

    parts = [
        asyncio.create_task(decode_ahead(), name="ingest-decode"),
        asyncio.create_task(store_in_order(), name="ingest-store"),
        asyncio.create_task(_flush_acks(receiver, service, coalescer, clock, ack_interval_s)),
    ]
    try:
        done, _ = await asyncio.wait(parts, return_when=asyncio.FIRST_COMPLETED)
        for part in done:
            part.result()  # a non-retriable error stops the ingest, loudly
    finally:
        for part in parts:
            part.cancel()
        await asyncio.gather(*parts, return_exceptions=True)


def _publish_due(
    receiver: MqttReceiver, coalescer: AckCoalescer, clock: Callable[[], datetime]
) -> None:
    due = coalescer.due(time.monotonic())
    if due:
        at = clock()
        for device_id, seq, rejected in due:
            receiver.publish(
                ack_topic(device_id), ack_payload(device_id, seq, rejected, at), retain=True
            )


async def _flush_acks(
    receiver: MqttReceiver,
    service: IngestService,
    coalescer: AckCoalescer,
    clock: Callable[[], datetime],
    interval_s: float,
) -> None:
    """Publish acks held back by the interval once it has passed, even if no traffic follows;
    report a lost broker session; keep the per-device memory bounded."""
    sessions_lost = receiver.sessions_lost
    while True:
        await asyncio.sleep(max(interval_s / 4, 0.05))
        _publish_due(receiver, coalescer, clock)
        coalescer.forget_before(time.monotonic() - 3600)
        service.housekeeping(clock())
        if receiver.sessions_lost > sessions_lost:
            sessions_lost = receiver.sessions_lost
            detail = (
                "the broker had no session for the ingest on reconnect; queued readings may be lost"
            )
            await service.raise_alarm(
                TechnicalAlert("broker_session_lost", "ingest", detail, clock())
            )
