"""`vigil bench stream`: the whole pipeline, both runners, on the real services.

- `embedded_rps`, `faust_rps`: readings per second from the broker through decode, hand-off
  (in-process, or Kafka with acks=all), the operator (every rule), and the database write of
  readings and detections. N device messages are queued at the broker for the ingest's session
  first, then the production processes (`vigil run`, or `vigil worker` + `vigil ingest`) start,
  and the rate is measured from the first stored row to the last.
- `embedded_p99_ms`, `faust_p99_ms`: publish -> detection for values dangerous on their own,
  under a live load of 1,000 readings/s: device publish time to the detection row's insert time
  (same clock). Stateful detections wait, by design, for the allowed lateness or the idle flush;
  their latency is reported separately (`*_stateful_p50_s`).
- `bare_consumer_rps`: a bare aiokafka consumer reading the same topic in the same run.
- `state_bytes_per_patient`: resident memory per patient of the operator state, 100,000 patients
  with 4 metric streams each, and the serialised size that goes to the Faust changelog.
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg
from aiokafka import AIOKafkaConsumer

from ingest.bound import BoundMessage
from ingest.contract import DeviceMessage, Measurement
from simulators import payloads
from simulators.device import DeviceConnection, DeviceStats
from simulators.fleet import SimPatient, device_password
from stream.core import StreamCore
from stream.operator import StreamOperator
from bench import ingest as bi
from vigil.settings import Settings

DANGEROUS = {"cgm": ("glucose", 50.0), "wearable": ("spo2", 90.0)}  # immediate rules
IMMEDIATE_RULES = ("glucose.level2_low", "spo2.urgent")


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def state_bytes(patients: int = 100_000) -> dict[str, float]:
    """Resident and serialised operator state per patient, 4 streams each, at steady state:
    enough readings per stream to fill its duplicate memory (windows are allocated whole), with
    sequence numbers of a device that has been running for a while."""
    core = StreamCore(StreamOperator())
    per_stream = core.operator.config.dedupe_memory + 2
    gc.collect()
    before = rss_bytes()
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    streams = (
        ("cgm", "cgm", "glucose", 120.0),
        ("watch", "wearable", "heart_rate", 72.0),
        ("watch", "wearable", "spo2", 97.0),
        ("cuff", "bp_cuff", "systolic_bp", 128.0),
    )
    for i in range(patients):
        pid = f"p{i}"
        for k in range(per_stream):
            t = t0 + timedelta(minutes=5 * k)
            seq = 10_000 + k
            batch = [
                BoundMessage(
                    pid,
                    DeviceMessage(f"{pid}-{dev}", seq, t, t, (Measurement(m, v, "u", v, "u"),)),
                    kind,
                    300.0,
                )
                for dev, kind, m, v in streams
            ]
            core.process(batch, t.timestamp())
        core.changed.clear()
    core.tick(t0.timestamp() + per_stream * 300 + 3600)
    gc.collect()
    grown = rss_bytes() - before
    sample = [s for _, s in zip(range(1000), core.store.all(), strict=False)]
    packed = statistics.mean(len(s.pack()) for s in sample)
    return {
        "state_bytes_per_patient": round(grown / patients),
        "state_serialized_bytes": round(packed),
    }


# --- processes ------------------------------------------------------------------------------


class Processes:
    def __init__(self, settings: Settings, env: dict[str, str], logs: Path) -> None:
        self.env = {**os.environ, "VIGIL_STATE_DIR": str(settings.state_dir.resolve()), **env}
        self.logs = logs
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str) -> None:
        with (self.logs / f"bench-{args[0]}.log").open("ab") as out:
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "vigil.cli", *args],
                    env=self.env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )

    async def wait_for(self, text: str, log_name: str, timeout_s: float = 120) -> None:
        path = self.logs / f"bench-{log_name}.log"
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if path.exists() and text in path.read_text(errors="replace"):
                return
            if any(p.poll() is not None for p in self.procs):
                raise RuntimeError(f"a benchmark process exited; see {self.logs}")
            await asyncio.sleep(0.2)
        raise TimeoutError(f"{text!r} not in {path}")

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        self.procs.clear()


async def count_rows(dsn: str, table: str = "readings") -> int:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        row = await (await conn.execute(f"SELECT count(*) FROM {table}")).fetchone()
        return int(row[0]) if row else 0


async def reset(dsn: str) -> None:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await conn.execute(
            "TRUNCATE readings, detections, alert_events, pages, patient_messages, audit_log,"
            " alerts, stream_states, rejected_readings"
        )


async def drain_rate(dsn: str, readings: int, timeout_s: float = 600) -> float:
    """Readings/s from the first stored row to the last."""
    end = time.monotonic() + timeout_s
    first: tuple[float, int] | None = None
    while time.monotonic() < end:
        n = await count_rows(dsn)
        now = time.perf_counter()
        if first is None and n > 0:
            first = (now, n)
        if n >= readings and first is not None:
            return (n - first[1]) / max(now - first[0], 1e-6)
        await asyncio.sleep(0.05)
    raise TimeoutError(f"stored {await count_rows(dsn)} of {readings}")


# --- live load ------------------------------------------------------------------------------


WARMUP_S = 5.0  # seconds of live load before latencies count


async def live_latency(
    settings: Settings, dsn: str, patients: Sequence[SimPatient], rate_rps: float, duration_s: float
) -> dict[str, float]:
    """Publish at `rate_rps` readings/s for `WARMUP_S` + `duration_s`; return the latencies of
    the detections for readings sent after the warm-up (the first seconds after a start pay for
    connections, metadata and pool set-up once: a start-up cost, not the steady state)."""
    stats = DeviceStats()
    secret = settings.sim.secret.get_secret_value()
    devices = [
        d for p in patients for d in p.devices if d.profile.kind in ("cgm", "wearable", "bp_cuff")
    ]
    conns = {
        d.device_id: DeviceConnection(
            d.device_id,
            device_password(secret, d.device_id),
            settings.mqtt.host,
            settings.mqtt.port,
            stats,
            max_inflight=100,
        )
        for d in devices
    }
    for c in conns.values():
        await c.connect()
    rng = random.Random(3)
    sent_at: dict[tuple[str, int], float] = {}
    seqs = dict.fromkeys(conns, 10_000)
    per_message = sum(len(d.profile.metrics) for d in devices) / len(devices)
    interval = per_message / rate_rps
    start = time.perf_counter()
    n = 0
    while time.perf_counter() - start < WARMUP_S + duration_s:
        d = devices[n % len(devices)]
        n += 1
        values = {
            m: 100.0
            if m == "glucose"
            else {"heart_rate": 72.0, "spo2": 97.0, "systolic_bp": 128.0, "diastolic_bp": 80.0}[m]
            for m in d.profile.metrics
        }
        dangerous = d.profile.kind in DANGEROUS and rng.random() < 0.03
        if dangerous:
            metric, value = DANGEROUS[d.profile.kind]
            values[metric] = value
        seq = seqs[d.device_id] = seqs[d.device_id] + 1
        now = datetime.now(UTC)
        units = dict(zip(d.profile.metrics, d.units, strict=True))
        doc = payloads.message(
            d.device_id, seq, now, [payloads.reading(m, v, units[m]) for m, v in values.items()]
        )
        conns[d.device_id].send(seq, orjson.dumps(doc))
        if dangerous and time.perf_counter() - start >= WARMUP_S:
            sent_at[(d.device_id, seq)] = now.timestamp()
        delay = start + n * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
    achieved = n * per_message / (time.perf_counter() - start)
    await asyncio.sleep(3)
    for c in conns.values():
        c.disconnect()
    latencies = await _latencies(dsn, sent_at)
    return {
        "achieved_rps": round(achieved),
        "samples": len(latencies),
        "p50_ms": round(_pct(latencies, 50), 1),
        "p99_ms": round(_pct(latencies, 99), 1),
    }


async def _latencies(dsn: str, sent_at: dict[tuple[str, int], float]) -> list[float]:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        cur = await conn.execute(
            "SELECT device_id, seq, extract(epoch FROM created_at) FROM detections"
            " WHERE rule_id = ANY(%s) AND kind = 'fired'",
            (list(IMMEDIATE_RULES),),
        )
        rows = await cur.fetchall()
    return [(float(t) - sent_at[(d, s)]) * 1000 for d, s, t in rows if (d, s) in sent_at]


def _pct(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


async def bare_consumer_rps(bootstrap: str, topic: str, records: int) -> float:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"bare-{time.time_ns()}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        got, first = 0, 0.0
        while got < records:
            batch = await consumer.getmany(timeout_ms=5000, max_records=10_000)
            if not batch:
                raise TimeoutError(f"bare consumer got {got} of {records}")
            first = first or time.perf_counter()
            got += sum(len(v) for v in batch.values())
        return got / max(time.perf_counter() - first, 1e-6)
    finally:
        await consumer.stop()


def run_traffic(
    count: int, patients: Sequence[SimPatient]
) -> tuple[list[tuple[str, int, bytes]], int]:
    traffic = bi.traffic(patients, count, datetime.now(UTC) - timedelta(hours=1))
    return traffic, bi.count_readings(traffic)


def median(xs: list[float]) -> float:
    return statistics.median(xs)


Result = dict[str, Any]
