"""The ingest's start-up order, shared by the embedded runner and the Kafka-fed ingest process.

Adapter module: the composition root builds the service, the receiver and the pool, and passes
them here with plain values (seconds, batch sizes) and a port that reads the acks back from the
broker; nothing here reads settings. What it owns is the order things start in:

1. device bindings, loaded before anything else (and a watcher that reloads them on change);
2. the acks each device was last told, read back from the broker, seed the sequence tracker,
   and the database's truth advances it (the seqs stored or refused past each retained ack:
   after a crash the retained acks lag the database, issue 14 finding 6);
3. the MQTT receiver starts (the broker begins delivering);
4. the ingest loop, returned with the watcher and the receiver's stopper for the caller to run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from datetime import datetime
from typing import Any

from psycopg_pool import AsyncConnectionPool

from ingest.bindings import BindingIndex
from ingest.loop import run_ingest
from ingest.metrics import Metrics
from ingest.mqtt import MqttReceiver
from ingest.ports import HandledSeqs
from ingest.repository import PgHandledSeqs, load_bindings, watch_bindings
from ingest.retry import retrying
from ingest.sequence import SeqTracker
from ingest.service import IngestService

log = logging.getLogger(__name__)


async def start_ingest(
    service: IngestService,
    receiver: MqttReceiver,
    pool: AsyncConnectionPool,
    *,
    conninfo: str,
    binding_refresh_s: float,
    read_acks: Callable[[], Awaitable[Mapping[str, int]]],
    clock: Callable[[], datetime],
    retriable: tuple[type[BaseException], ...],
    max_batch: int,
    linger_s: float,
    in_flight: int,
    metrics: Metrics | None = None,
) -> list[Coroutine[Any, Any, None]]:
    """Start the receiver once the service is ready for it; return the tasks to run until
    stopped: the bindings watcher, the ingest loop, and the receiver's stop at exit."""

    def on_bindings(index: BindingIndex) -> None:
        service.bindings = index

    # Bindings first: the broker delivers queued readings as soon as we connect, and a reading
    # decoded against an empty index would be quarantined as unbound.
    service.bindings = await retrying(load_bindings, pool, retriable=retriable,
                                      what="loading device bindings", log=log)  # fmt: skip
    acks = await read_acks()
    advanced = await seed_acks(service.tracker, acks, PgHandledSeqs(pool), retriable)
    log.info("acks of %d devices read back from the broker, %d advanced from the database",
             len(acks), advanced)  # fmt: skip
    await receiver.start()
    loop = run_ingest(receiver, service, clock=clock, retriable=retriable, max_batch=max_batch,
                      linger_s=linger_s, in_flight=in_flight, metrics=metrics)  # fmt: skip
    # The watcher is created last only so that a failure above leaves no coroutine un-awaited:
    # it reloads the bindings at once when it runs.
    watcher = watch_bindings(pool, conninfo, on_bindings, binding_refresh_s)
    return [watcher, loop, stop_receiver_on_exit(receiver)]


async def seed_acks(
    tracker: SeqTracker,
    acks: Mapping[str, int],
    handled: HandledSeqs,
    retriable: tuple[type[BaseException], ...],
) -> int:
    """Seed the tracker from the acks the devices were last told, then advance it by what the
    database holds past them; return how many devices the database advanced."""
    for device_id, acked in acks.items():
        tracker.seed(device_id, acked)
    through = await retrying(handled.handled_through, acks, retriable=retriable,
                             what="reading the handled seqs back", log=log)  # fmt: skip
    for device_id, seq in through.items():
        tracker.advance_to(device_id, seq)
    return len(through)


async def stop_receiver_on_exit(receiver: MqttReceiver) -> None:
    """Wait until cancelled, then stop the receiver (its place in the caller's task list)."""
    try:
        await asyncio.Event().wait()
    finally:
        await receiver.stop()
