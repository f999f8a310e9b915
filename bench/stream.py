"""`vigil bench stream`: the whole pipeline, both runners, on the real services.

- `embedded_rps`, `faust_rps`: readings per second from the broker through decode, hand-off
  (in-process, or Kafka with acks=all), the operator (every rule), and the database write of
  readings and detections. N device messages are queued at the broker for the ingest's session
  first, then the production processes (`vigil run`, or `vigil worker` + `vigil ingest`) start,
  and the rate is measured from the first stored row to the last.
- `embedded_p99_ms`, `faust_p99_ms`: publish -> detection for values dangerous on their own,
  under a live load of 1,000 readings/s (bench.live): device publish time to the detection row's
  insert time (same clock). Stateful detections wait, by design, for the allowed lateness or the
  idle flush, and are not measured here.
- `embedded_backlog_rps`, `faust_backlog_rps` (and `_s`): a backlog of `--backlog` messages
  (150,000 by default) queued at the broker while the pipeline is stopped, then the time from
  the start command to the last stored reading, start-up included, and readings/s over it.
- `faust_stages`: where the Faust worker's readings waited, per stage (the worker's last
  `stage latency:` log line, stream/stage_times.py).
- `bare_consumer_rps`: a bare aiokafka consumer reading the same topic in the same run.
- `cores`, `load_average`: the machine at the start (figures compare only with them).
- `state_bytes_per_patient`: the operator's state per patient (bench.state).

The phases run in a fixed order, each on an emptied database. Must not: import the runners'
code; the runners are measured as the processes a deployment starts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer

from bench import broker
from bench.database import Bench, enrolled, reset, stored_readings
from bench.live import live_latency
from bench.processes import Processes
from bench.state import state_bytes
from bench.traffic import Traffic, publish_all, recent_traffic
from vigil.settings import Settings

log = logging.getLogger(__name__)

PORT = 18761
LIVE_RPS = 1000.0


@dataclass(frozen=True, slots=True)
class _Run:
    bench: Bench
    env: dict[str, str]  # the processes' configuration, shared by every phase
    logs: Path

    def processes(self, **env: str) -> Processes:
        return Processes(self.bench.settings, {**self.env, **env}, self.logs)


PHASES = ("state", "embedded-drain", "embedded-live", "faust-drain", "faust-live",
          "embedded-backlog", "faust-backlog")  # fmt: skip


async def stream_figures(
    settings: Settings,
    count: int,
    live_s: float,
    state_patients: int,
    phases: tuple[str, ...] = PHASES,
    backlog: int = 150_000,
) -> dict[str, Any]:
    """The figures of `phases` (all by default; `--only` picks some to keep a run short)."""
    figures: dict[str, Any] = conditions()
    if "state" in phases:
        log.info("state size: %d patients x 4 streams", state_patients)
        figures.update(state_bytes(state_patients))
    bench = await enrolled(settings)
    traffic, readings = recent_traffic(bench.patients, count)
    logs = bench.settings.state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    run = _Run(bench, {"VIGIL_DB__DSN": bench.dsn, "VIGIL_API__PORT": str(PORT)}, logs)
    if "embedded-drain" in phases:
        figures["embedded_rps"] = round(await _embedded_drain(run, traffic, readings))
    if "embedded-live" in phases:
        live = await _embedded_live(run, live_s)
        figures.update(embedded_p99_ms=live["p99_ms"], embedded_p50_ms=live["p50_ms"],
                       embedded_live=live)  # fmt: skip
    if "faust-drain" in phases:
        faust_rps, topic = await _faust_drain(run, traffic, readings)
        figures["faust_rps"] = round(faust_rps)
        figures["bare_consumer_rps"] = round(
            await bare_consumer_rps(bench.settings.kafka.bootstrap, topic, len(traffic))
        )
    if "faust-live" in phases:
        live = await _faust_live(run, live_s)
        figures.update(faust_p99_ms=live["p99_ms"], faust_p50_ms=live["p50_ms"], faust_live=live,
                       faust_stages=last_stages(logs / "bench-worker.log"))  # fmt: skip
    for bus in ("embedded", "faust"):
        if f"{bus}-backlog" in phases:
            figures.update(await _backlog(run, bus, backlog))
    figures.update(readings_per_message=round(readings / count, 2), messages=count,
                   storage_mode=bench.storage_mode)  # fmt: skip
    return figures


def last_stages(worker_log: Path) -> dict[str, Any]:
    """The worker's last per-stage latency summary (stream/stage_times.py), {} if none."""
    marker = "stage latency: "
    lines = [ln for ln in worker_log.read_text(errors="replace").splitlines() if marker in ln]
    return dict(json.loads(lines[-1].split(marker, 1)[1])) if lines else {}


def conditions() -> dict[str, Any]:
    """The machine's state at the start: figures are comparable only with it."""
    return {"cores": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()]}


async def _queued(run: _Run, cid: str, traffic: Traffic) -> None:
    """An emptied database, and `traffic` queued at the broker for the session `cid`."""
    await reset(run.bench.dsn)
    broker.close_session(run.bench.settings, cid)
    broker.open_session(run.bench.settings, cid)
    await publish_all(run.bench.settings, traffic)


async def _embedded_drain(run: _Run, traffic: Traffic, readings: int) -> float:
    cid = "vigil-bench-embedded"
    await _queued(run, cid, traffic)
    procs = run.processes(VIGIL_MQTT__CLIENT_ID=cid)
    procs.start("run")
    try:
        return await drain_rate(run.bench.dsn, readings)
    finally:
        procs.stop()
        broker.close_session(run.bench.settings, cid)


async def _embedded_live(run: _Run, live_s: float) -> dict[str, float]:
    await reset(run.bench.dsn)
    cid = "vigil-bench-embedded-live"
    procs = run.processes(VIGIL_MQTT__CLIENT_ID=cid)
    procs.start("run")
    try:
        await procs.wait_for("embedded runner up", "run")
        b = run.bench
        return await live_latency(b.settings, b.dsn, b.patients, LIVE_RPS, live_s)
    finally:
        procs.stop()
        broker.close_session(run.bench.settings, cid)


def _kafka_env(name: str) -> dict[str, str]:
    stamp = time.time_ns()
    return {
        "VIGIL_MQTT__CLIENT_ID": f"vigil-{name}",
        "VIGIL_KAFKA__READINGS_TOPIC": f"bench.{name}.{stamp}",
        "VIGIL_KAFKA__APP_ID": f"{name}-{stamp}",
    }


async def _faust_drain(run: _Run, traffic: Traffic, readings: int) -> tuple[float, str]:
    env = _kafka_env("bench-faust")
    cid = env["VIGIL_MQTT__CLIENT_ID"]
    await _queued(run, cid, traffic)
    procs = run.processes(**env)
    procs.start("worker")
    try:
        await procs.wait_for("[^Worker]: Ready", "worker")
        procs.start("ingest")
        return await drain_rate(run.bench.dsn, readings), env["VIGIL_KAFKA__READINGS_TOPIC"]
    finally:
        procs.stop()
        broker.close_session(run.bench.settings, cid)


async def _faust_live(run: _Run, live_s: float) -> dict[str, float]:
    await reset(run.bench.dsn)
    env = _kafka_env("bench-faust-live")
    procs = run.processes(**env)
    procs.start("worker")
    try:
        await procs.wait_for("[^Worker]: Ready", "worker")
        procs.start("ingest")
        await procs.wait_for("ingest up", "ingest")
        await asyncio.sleep(2)
        b = run.bench
        return await live_latency(b.settings, b.dsn, b.patients, LIVE_RPS, live_s)
    finally:
        procs.stop()
        broker.close_session(run.bench.settings, env["VIGIL_MQTT__CLIENT_ID"])


async def _backlog(run: _Run, bus: str, count: int) -> dict[str, float]:
    """`count` messages queued while the pipeline is stopped, then drained: from the start
    command (the Faust worker first, as a deployment would) to the last stored reading."""
    traffic, readings = recent_traffic(run.bench.patients, count)
    env = _kafka_env(f"bench-{bus}-backlog")
    if bus == "embedded":
        env = {"VIGIL_MQTT__CLIENT_ID": "vigil-bench-embedded-backlog"}
    cid = env["VIGIL_MQTT__CLIENT_ID"]
    await _queued(run, cid, traffic)
    procs = run.processes(**env)
    started = time.perf_counter()
    try:
        if bus == "embedded":
            procs.start("run")
        else:
            procs.start("worker")
            await procs.wait_for("[^Worker]: Ready", "worker")
            procs.start("ingest")
        await drain_rate(run.bench.dsn, readings, timeout_s=900)
        took = time.perf_counter() - started
    finally:
        procs.stop()
        broker.close_session(run.bench.settings, cid)
    return {f"{bus}_backlog_s": round(took, 1), f"{bus}_backlog_rps": round(readings / took),
            f"{bus}_backlog_readings": readings}  # fmt: skip


async def drain_rate(dsn: str, readings: int, timeout_s: float = 600) -> float:
    """Readings/s from the first stored row to the last."""
    end = time.monotonic() + timeout_s
    first: tuple[float, int] | None = None
    while time.monotonic() < end:
        n = await stored_readings(dsn)
        now = time.perf_counter()
        if first is None and n > 0:
            first = (now, n)
        if n >= readings and first is not None:
            return (n - first[1]) / max(now - first[0], 1e-6)
        await asyncio.sleep(0.05)
    raise TimeoutError(f"stored {await stored_readings(dsn)} of {readings}")


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
