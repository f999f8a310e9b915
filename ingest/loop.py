"""The ingest loop: MQTT batches through the service, then PUBACKs and device acks.

Glue between the paho adapter and the pure-ish service, run by the composition root. A batch
is acknowledged to the broker only after `IngestService.handle` returned, i.e. after everything
in it is durable.

Up to `in_flight` batches are handled at once, so the ingest decodes the next batch while the
database (or Kafka) makes the previous one durable: with one at a time, Python and PostgreSQL
took turns, each about half busy (measured with `vigil bench ingest`). PUBACKs still go out in
the order the messages arrived (MQTT 3.1.1, 4.6): batches are acknowledged strictly in turn,
each once its own hand-off and every earlier one have returned.

A retriable failure (database or bus unavailable) retries the same batch with
backoff, holding its PUBACKs; the broker stops sending once `max_inflight_messages` (5,000)
messages are unacknowledged, so an outage turns into backpressure and queueing at the broker,
not loss. Any other exception propagates and stops the process: better down and alarmed than
silently wrong.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime

from ingest.acks import AckCoalescer, ack_payload
from ingest.contract import ack_topic
from ingest.mqtt import MqttReceiver
from ingest.ports import RawMessage, TechnicalAlert
from ingest.retry import retrying
from ingest.service import BatchResult, IngestService

log = logging.getLogger(__name__)

_Handling = tuple[list[RawMessage], "asyncio.Task[BatchResult]"]


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
) -> None:
    """Run until cancelled (or a non-retriable error)."""
    coalescer = AckCoalescer(ack_interval_s)
    slots = asyncio.Semaphore(in_flight)
    handled: asyncio.Queue[_Handling] = asyncio.Queue()

    async def handle_batches() -> None:
        async for batch in receiver.batches(max_batch, linger_s):
            await slots.acquire()
            what = f"storing a batch of {len(batch)} messages"
            work = retrying(service.handle, batch, retriable=retriable, what=what, log=log)
            handled.put_nowait((batch, asyncio.create_task(work)))

    async def acknowledge_in_turn() -> None:
        while True:
            batch, handling = await handled.get()
            result = await handling
            receiver.ack(batch)
            coalescer.record(result.device_acks, result.rejected_seqs)
            _publish_due(receiver, coalescer, clock)
            slots.release()

    parts = [
        asyncio.create_task(handle_batches(), name="ingest-batches"),
        asyncio.create_task(acknowledge_in_turn(), name="ingest-acks"),
        asyncio.create_task(_flush_acks(receiver, service, coalescer, clock, ack_interval_s)),
    ]
    try:
        done, _ = await asyncio.wait(parts, return_when=asyncio.FIRST_COMPLETED)
        for part in done:
            part.result()  # a non-retriable error stops the ingest, loudly
    finally:
        while not handled.empty():
            handled.get_nowait()[1].cancel()
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
