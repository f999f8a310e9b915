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
import random
import statistics
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

from ingest.bound import BoundMessage
from ingest.contract import READINGS_FILTER, decode, readings_topic
from ingest.loop import run_ingest
from ingest.repository import load_bindings
from ingest.service import IngestService
from simulators import payloads
from simulators.device import DeviceConnection, DeviceStats
from simulators.fleet import SimPatient, device_password
from simulators.physiology import baseline_for, true_value
from stream.core import StreamCore
from stream.embedded import EmbeddedBus
from stream.operator import Outcome
from vigil.runtime import RETRIABLE, build_ingest, build_receiver, open_pool, utc_now
from vigil.settings import Settings
from vigil.streaming import build_core, build_pipeline

# Messages per patient-day by device kind (profiles.py cadences): the realistic traffic mix.
_PER_DAY = {"wearable": 1440, "cgm": 288, "glucometer": 4, "bp_cuff": 2, "scale": 1}


def traffic(
    patients: Sequence[SimPatient], count: int, start: datetime
) -> list[tuple[str, int, bytes]]:
    """`count` (device_id, seq, payload) drawn in the cohort's realistic mix (seeded)."""
    devices = [d for p in patients for d in p.devices]
    weights = [_PER_DAY[d.profile.kind] for d in devices]
    rng = random.Random(7)
    seqs: dict[str, int] = {}
    out = []
    for i, d in enumerate(rng.choices(devices, weights, k=count)):
        at = start + timedelta(seconds=i * 3600 / count)
        b = baseline_for(int(d.patient_id.rsplit("-p", 1)[1]), 1)
        values = (true_value(b, m, at) for m in d.profile.metrics)
        rs = [
            payloads.reading(m, v, u)
            for m, v, u in zip(d.profile.metrics, values, d.units, strict=True)
        ]
        seq = seqs.get(d.device_id, 0)
        seqs[d.device_id] = seq + 1
        out.append((d.device_id, seq, payloads.encode(payloads.message(d.device_id, seq, at, rs))))
    return out


def count_readings(messages: Sequence[tuple[str, int, bytes]]) -> int:
    """Readings in the traffic (decoded once; all of it must be valid)."""
    now = datetime.now(UTC)
    total = 0
    for device_id, _, payload in messages:
        result = decode(readings_topic(device_id), payload, now)
        if result.rejections:
            raise RuntimeError(f"benchmark traffic was rejected: {result.rejections}")
        total += sum(len(m.measurements) for m in result.messages)
    return total


def decode_us(messages: Sequence[tuple[str, int, bytes]], repeats: int = 30) -> tuple[float, float]:
    """(µs per reading, readings per message): the minimum over `repeats` passes over the first
    2,000 messages, the usual estimate of the uncontended cost on a machine shared with others."""
    now = datetime.now(UTC)
    topics = [(readings_topic(d), p) for d, _, p in messages[:2_000]]
    readings = count_readings(messages[:2_000])
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for t, p in topics:
            decode(t, p, now)
        best = min(best, time.perf_counter() - t0)
    return best / readings * 1e6, readings / len(topics)


async def publish_all(settings: Settings, messages: Sequence[tuple[str, int, bytes]]) -> None:
    """Publish as the devices themselves (the ACL lets each write only its own topic)."""
    stats = DeviceStats()
    secret = settings.sim.secret.get_secret_value()
    conns: dict[str, DeviceConnection] = {}
    for device_id in sorted({d for d, _, _ in messages}):
        conn = DeviceConnection(device_id, device_password(secret, device_id), settings.mqtt.host,
                                settings.mqtt.port, stats, max_inflight=200)  # fmt: skip
        await conn.connect()
        conns[device_id] = conn
    for i, (device_id, seq, payload) in enumerate(messages):
        conns[device_id].send(seq, payload)
        if i % 500 == 0:
            await asyncio.sleep(0)  # let PUBACKs in; each device bounds its own in-flight
    await _until_acknowledged(stats, len(messages), conns)
    for conn in conns.values():
        conn.disconnect()
    if stats.refused or stats.errors:
        raise RuntimeError(f"publishing failed: {stats.refused} {stats.errors}")


async def _until_acknowledged(
    stats: DeviceStats, count: int, conns: dict[str, DeviceConnection], stall_s: float = 60.0
) -> None:
    """Wait for the broker's PUBACKs of all `count` messages; fail loudly, with what is known,
    if none arrives for `stall_s` (a bench that hangs measures nothing and says nothing)."""
    done = stats.pubacked + sum(stats.refused.values())
    progress_at = time.monotonic()
    while done < count:
        await asyncio.sleep(0.05)
        now_done = stats.pubacked + sum(stats.refused.values())
        if now_done > done:
            done, progress_at = now_done, time.monotonic()
        elif time.monotonic() - progress_at > stall_s:
            lost = sorted(d for d, c in conns.items() if not c.connected)
            raise RuntimeError(
                f"publishing stalled: {done} of {count} acknowledged by the broker, "
                f"{stats.published} published, errors {dict(stats.errors)}; "
                f"{len(lost)} device connections down: {', '.join(lost[:5])}"
            )


def _client(settings: Settings, client_id: str, *, clean: bool = False) -> mqtt.Client:
    """MQTT 3.1.1 with a persistent session, like the ingest: the same protocol costs."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean,
                    protocol=mqtt.MQTTv311)  # fmt: skip
    c.username_pw_set(settings.mqtt.username, settings.mqtt.password.get_secret_value())
    return c


def open_session(settings: Settings, client_id: str) -> None:
    """Create a persistent session subscribed to every device's readings, then go offline."""
    c = _client(settings, client_id)
    subscribed = threading.Event()
    c.on_subscribe = lambda *a: subscribed.set()
    c.connect(settings.mqtt.host, settings.mqtt.port)
    c.subscribe(READINGS_FILTER, qos=1)
    c.loop_start()
    if not subscribed.wait(10):
        raise RuntimeError("no SUBACK")
    c.disconnect()
    c.loop_stop()


def close_session(settings: Settings, client_id: str) -> None:
    c = _client(settings, client_id, clean=True)  # a clean session discards the stored one
    c.connect(settings.mqtt.host, settings.mqtt.port)
    c.loop_start()
    time.sleep(0.2)
    c.disconnect()
    c.loop_stop()


def bare_drain(settings: Settings, client_id: str, count: int) -> float:
    """Seconds a bare paho QoS 1 subscriber needs to receive `count` queued messages."""
    got = 0
    done = threading.Event()

    def on_message(client: Any, userdata: Any, msg: Any) -> None:
        nonlocal got
        got += 1
        if got >= count:
            done.set()

    c = _client(settings, client_id)
    c.on_message = on_message
    t0 = time.perf_counter()
    c.connect(settings.mqtt.host, settings.mqtt.port)
    c.loop_start()
    if not done.wait(300):
        raise RuntimeError(f"bare subscriber got {got} of {count}")
    elapsed = time.perf_counter() - t0
    c.disconnect()
    c.loop_stop()
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
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        while True:
            for t in tasks:
                if t.done():
                    t.result()  # a crashed ingest fails the benchmark, loudly
            if service.stats.readings_accepted >= readings:
                done_at = time.perf_counter()
                cur = await conn.execute("SELECT count(*) FROM readings")
                row = await cur.fetchone()
                if row is not None and row[0] >= readings:
                    return done_at
            await asyncio.sleep(0.002)


def median(xs: list[float]) -> float:
    return statistics.median(xs)
