"""`vigil bench ingest`: ingest throughput against a bare paho subscriber, and decode cost.

Method. Both subscribers are measured the same way, in the same run, on the same broker and the
same payloads: a persistent session is created and left offline, N device messages are
published into it, then the subscriber connects and the clock runs until it has everything:

- `bare_subscriber_rps`: a bare paho QoS 1 subscriber (network thread, automatic PUBACK, no
  work per message): what paho and the broker can deliver to one Python process;
- `ingest_rps`: the real ingest (paho with manual PUBACK, contract decode, binding, embedded
  bus, batched COPY into PostgreSQL, device acks): done when every reading is in `readings`.
  The embedded pipeline runs with its detectors off (`_ReadingsOnly`): this measures the ingest
  path; the same path with every detector is `vigil bench stream`'s `embedded_rps`.

Rates are readings per second (the payload mix carries about 2 readings per message). Rounds
alternate bare/ingest and the median is reported. `decode_us` is the contract's decode +
validate + normalise time per reading over the same mix, best of several repeats.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Sequence
from typing import Any

from bench import broker
from bench.database import enrolled, stored_readings, truncate_readings
from bench.traffic import Traffic, decode_us, publish_all, recent_traffic
from ingest.bound import BoundMessage
from ingest.loop import run_ingest
from ingest.repository import load_bindings
from ingest.service import IngestService
from stream.core import StreamCore
from stream.embedded import EmbeddedBus
from stream.operator import Outcome
from vigil.runtime import RETRIABLE, build_ingest, build_receiver, open_pool, utc_now
from vigil.settings import Settings
from vigil.streaming import build_core, build_pipeline


async def ingest_figures(settings: Settings, count: int, rounds: int) -> dict[str, Any]:
    """`rounds` alternating bare/ingest rounds of `count` messages; medians and per-round."""
    bench = await enrolled(settings)
    settings = bench.settings
    traffic, readings = recent_traffic(bench.patients, count)
    per_reading_us, _ = decode_us(traffic)
    bare, ingest = [], []
    for _ in range(rounds):
        bare.append(readings / await _round_bare(settings, traffic))
        ingest.append(readings / await _round_ingest(settings, bench.dsn, traffic, readings))
    bare_rps, ingest_rps = statistics.median(bare), statistics.median(ingest)
    return {
        "ingest_rps": round(ingest_rps),
        "bare_subscriber_rps": round(bare_rps),
        "ratio": round(ingest_rps / bare_rps, 3),
        "decode_us": round(per_reading_us, 2),
        "readings_per_message": round(readings / count, 2),
        "messages_per_round": count,
        "rounds": rounds,
        "storage_mode": bench.storage_mode,
        "rounds_detail": {
            "bare_rps": [round(x) for x in bare],
            "ingest_rps": [round(x) for x in ingest],
            "ratio": [round(i / b, 3) for i, b in zip(ingest, bare, strict=True)],  # back to back
        },
    }


async def _round_bare(settings: Settings, traffic: Traffic) -> float:
    cid = "bench-bare"
    broker.close_session(settings, cid)
    broker.open_session(settings, cid)
    await publish_all(settings, traffic)
    elapsed = await asyncio.to_thread(broker.bare_drain, settings, cid, len(traffic))
    broker.close_session(settings, cid)
    return elapsed


async def _round_ingest(settings: Settings, dsn: str, traffic: Traffic, readings: int) -> float:
    cid = "bench-ingest"
    await truncate_readings(dsn)
    broker.close_session(settings, cid)
    broker.open_session(settings, cid)
    await publish_all(settings, traffic)
    elapsed = await ingest_drain(settings, dsn, cid, readings)
    broker.close_session(settings, cid)
    return elapsed


class _ReadingsOnly(StreamCore):
    """The embedded pipeline without detectors: readings are stored, nothing is evaluated."""

    def process(self, batch: Sequence[BoundMessage], now: float) -> Outcome:
        return Outcome()


async def ingest_drain(settings: Settings, dsn: str, client_id: str, readings: int) -> float:
    """Seconds the embedded ingest needs to store `readings` queued readings in PostgreSQL."""
    async with open_pool(settings) as pool:
        core = _ReadingsOnly(build_core(settings).operator)
        pipeline, store = build_pipeline(settings, pool, core, RETRIABLE)
        bus = EmbeddedBus(pipeline)
        service = build_ingest(settings, pool, bus)
        service.bindings = await load_bindings(pool)
        receiver = build_receiver(settings, client_id=client_id)
        started = time.perf_counter()
        await receiver.start()
        s = settings.ingest
        tasks = [
            asyncio.create_task(bus.run()),
            asyncio.create_task(
                run_ingest(receiver, service, clock=utc_now, retriable=RETRIABLE,
                           max_batch=s.batch_max_messages, linger_s=s.batch_linger_ms / 1000,
                           in_flight=s.batches_in_flight)
            ),
        ]  # fmt: skip
        try:
            return await _until_stored(dsn, readings, tasks, service) - started
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await receiver.stop()
            await store.close()


async def _until_stored(
    dsn: str, readings: int, tasks: list[asyncio.Task[None]], service: IngestService
) -> float:
    """The clock (`perf_counter`) when all `readings` are stored. The ingest counts a reading
    as accepted only once its batch's hand-off returned, i.e. after the database commit, so
    the in-process counter is watched (cheap), then the table is counted once to confirm.
    Counting the table every few milliseconds instead would load the database the ingest is
    writing to and slow down what is measured."""
    while True:
        for t in tasks:
            if t.done():
                t.result()  # a crashed ingest fails the benchmark, loudly
        if service.stats.readings_accepted >= readings:
            done_at = time.perf_counter()
            if await stored_readings(dsn) >= readings:
                return done_at
        await asyncio.sleep(0.002)
