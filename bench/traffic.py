"""The device traffic the benches publish: a cohort's realistic mix, published by the devices.

`traffic` draws N messages (seeded) in the mix of a real cohort; `publish_all` publishes them as
the devices themselves and waits for the broker's PUBACKs. Must not: measure anything (the
benches time what happens after), or talk to the database.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from ingest.contract import decode, readings_topic
from simulators import payloads
from simulators.device import DeviceConnection, DeviceStats
from simulators.fleet import SimPatient, device_password
from simulators.physiology import baseline_for, true_value
from vigil.settings import Settings

Traffic = list[tuple[str, int, bytes]]  # (device_id, seq, payload)

# Messages per patient-day by device kind (profiles.py cadences): the realistic traffic mix.
_PER_DAY = {"wearable": 1440, "cgm": 288, "glucometer": 4, "bp_cuff": 2, "scale": 1}


def traffic(patients: Sequence[SimPatient], count: int, start: datetime) -> Traffic:
    """`count` (device_id, seq, payload) drawn in the cohort's realistic mix (seeded)."""
    devices = [d for p in patients for d in p.devices]
    weights = [_PER_DAY[d.profile.kind] for d in devices]
    rng = random.Random(7)
    seqs: dict[str, int] = {}
    out: Traffic = []
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


def recent_traffic(patients: Sequence[SimPatient], count: int) -> tuple[Traffic, int]:
    """`count` messages measured over the last hour, and the readings they carry."""
    messages = traffic(patients, count, datetime.now(UTC) - timedelta(hours=1))
    return messages, count_readings(messages)
