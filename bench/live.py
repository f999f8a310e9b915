"""Live load: simulated devices publishing at a steady rate, and publish -> detection latency.

About 12 % of CGM messages carry a value dangerous on its own (an immediate rule, level-2 low
glucose), so each of them should become a detection at once; its latency is the detection row's
`created_at` minus the device's publish time (same clock). 12 % gives ~220 samples in 30 s, so
that the p99 is not simply the slowest one (3 % gave 50, and the p99 was their maximum); it is
also a heavier alert load than real patients make.
Used by `vigil bench stream` (both runners) and `vigil bench ws` (the push measurement).
Must not: start processes (bench.processes) or write to the database.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import orjson

from bench.database import fired
from simulators import payloads
from simulators.device import DeviceConnection, DeviceStats
from simulators.fleet import SimDevice, SimPatient, device_password
from vigil import heap
from vigil.settings import Settings

DANGEROUS = {"cgm": ("glucose", 50.0)}  # immediate rules (SpO2 <= 88 % waits for a second)
IMMEDIATE_RULES = ("glucose.level2_low",)
NORMAL = {"glucose": 100.0, "heart_rate": 72.0, "spo2": 97.0, "systolic_bp": 128.0,
          "diastolic_bp": 80.0}  # fmt: skip
LIVE_KINDS = ("cgm", "wearable", "bp_cuff")
DANGEROUS_SHARE = 0.12  # of CGM messages: ~200 latency samples in 30 s
WARMUP_S = 5.0  # seconds of live load before latencies count
SETTLE_S = 3.0  # after the load: time for the last detections to be written

Sent = dict[tuple[str, int], float]  # (device_id, seq) -> publish time (epoch seconds)


async def live_latency(
    settings: Settings, dsn: str, patients: Sequence[SimPatient], rate_rps: float, duration_s: float
) -> dict[str, float]:
    """Publish at `rate_rps` readings/s for `WARMUP_S` + `duration_s`; return the latencies of
    the detections for readings sent after the warm-up (the first seconds after a start pay for
    connections, metadata and pool set-up once: a start-up cost, not the steady state)."""
    devices = [d for p in patients for d in p.devices if d.profile.kind in LIVE_KINDS]
    conns = await _connect(settings, devices)
    heap.settle()  # the publisher's own collector pauses are not the pipeline's latency
    try:
        sent_at, achieved = await _publish_paced(devices, conns, rate_rps, duration_s)
        await asyncio.sleep(SETTLE_S)
    finally:
        for c in conns.values():
            c.disconnect()
    latencies = await _latencies_ms(dsn, sent_at)
    return {
        "achieved_rps": round(achieved),
        "samples": len(latencies),
        "p50_ms": round(percentile(latencies, 50), 1),
        "p99_ms": round(percentile(latencies, 99), 1),
    }


async def _connect(settings: Settings, devices: Sequence[SimDevice]) -> dict[str, DeviceConnection]:
    stats = DeviceStats()
    secret = settings.sim.secret.get_secret_value()
    conns = {
        d.device_id: DeviceConnection(d.device_id, device_password(secret, d.device_id),
                                      settings.mqtt.host, settings.mqtt.port, stats,
                                      max_inflight=100)
        for d in devices
    }  # fmt: skip
    for c in conns.values():
        await c.connect()
    return conns


async def _publish_paced(
    devices: Sequence[SimDevice],
    conns: dict[str, DeviceConnection],
    rate_rps: float,
    duration_s: float,
) -> tuple[Sent, float]:
    """Round-robin over the devices at `rate_rps` readings/s; (publish times of the dangerous
    messages after the warm-up, the readings/s achieved)."""
    rng = random.Random(3)
    sent_at: Sent = {}
    seqs = dict.fromkeys(conns, 10_000)
    per_message = sum(len(d.profile.metrics) for d in devices) / len(devices)
    interval = per_message / rate_rps
    start = time.perf_counter()
    n = 0
    while time.perf_counter() - start < WARMUP_S + duration_s:
        d = devices[n % len(devices)]
        n += 1
        dangerous = d.profile.kind in DANGEROUS and rng.random() < DANGEROUS_SHARE
        seq = seqs[d.device_id] = seqs[d.device_id] + 1
        now = datetime.now(UTC)
        conns[d.device_id].send(seq, _message(d, seq, now, dangerous))
        if dangerous and time.perf_counter() - start >= WARMUP_S:
            sent_at[(d.device_id, seq)] = now.timestamp()
        delay = start + n * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
    return sent_at, n * per_message / (time.perf_counter() - start)


def _message(d: SimDevice, seq: int, now: datetime, dangerous: bool) -> bytes:
    """One message of normal values, or with the device's dangerous value."""
    values = {m: NORMAL[m] for m in d.profile.metrics}
    if dangerous:
        metric, value = DANGEROUS[d.profile.kind]
        values[metric] = value
    units = dict(zip(d.profile.metrics, d.units, strict=True))
    readings = [payloads.reading(m, v, units[m]) for m, v in values.items()]
    return orjson.dumps(payloads.message(d.device_id, seq, now, readings))


async def _latencies_ms(dsn: str, sent_at: Sent) -> list[float]:
    rows = await fired(dsn, IMMEDIATE_RULES)
    return [(f.created_at_s - sent_at[key]) * 1000 for f in rows
            if (key := (f.device_id, f.seq)) in sent_at]  # fmt: skip


def percentile(xs: list[float], p: float) -> float:
    """The `p`-th percentile (nearest rank) of `xs`; NaN when empty."""
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]
