"""`vigil bench ws`: the alerts websocket under load, on the real services and processes.

- `deliveries_per_s`: C websocket clients (the nurse of one care team) connected to `vigil api`;
  a burst of alert events (copies of a real alert's opening event, fresh ids) is appended in
  transactions of `CHUNK` by `alerts.repository.append_events`, as every alert writer appends;
  deliveries = events x clients, per second from the first insert to the last receipt. The same
  burst with one client is the baseline (`deliveries_per_s_1_client`, i.e. events/s through
  the whole path).
- `push_p99_ms` / `push_p50_ms`: detection -> websocket receipt. `vigil run` ingests ~1,000
  readings/s of simulated devices over Mosquitto (`bench.live.live_latency`, which sends about
  3 % of CGM and wearable messages with a value dangerous on its own); one client (the charge
  nurse, every team) records when each detection's event arrives. Latency is measured from the
  detection row's `created_at` (the start of the writer's transaction, same clock) to receipt;
  the publish -> detection part is the `live_publish_to_detection_*` figures of the same run.

The clients run in this process, the API in its own: the clients' decoding is not the server's
cost, and on a 2-core machine they compete with it for CPU (so the figures are a lower bound).
`writer_events_per_s` is what the pipeline's own writer (`PgAlertStore.record`, escalation
included) produces for crisis detections: what a real burst is limited by.
Must not: write alert events or alerts with SQL of its own (the alerts repository does).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import websockets
from psycopg_pool import AsyncConnectionPool

from alerts.episodes import AlertEvent, open_or_update
from alerts.repository import PgAlertStore, append_events
from api.auth import issue_token
from bench import broker
from bench.database import Bench, enrolled, fired, max_event_seq
from bench.live import IMMEDIATE_RULES, WARMUP_S, live_latency, percentile
from bench.processes import Processes, wait_port
from simulators.fleet import SimPatient
from stream.detections import Detection, Severity, Worse, detection_id
from vigil.demo import CHARGE_NURSE
from vigil.settings import Settings

CHUNK = 100  # events (or detections) per writer transaction
PORT = 18762
URL = f"ws://127.0.0.1:{PORT}/ws/alerts"


def _crisis(p: SimPatient, seq: int, now: datetime) -> Detection:
    device = f"{p.patient_id}-bench"
    return Detection(
        id=detection_id("bp.crisis", p.patient_id, device, seq, "systolic_bp"),
        rule_id="bp.crisis", title="Hypertensive crisis", severity=Severity.CRITICAL,
        worse=Worse.HIGHER, patient_id=p.patient_id, device_id=device, seq=seq,
        metric="systolic_bp", value=185.0 + seq % 20, unit="mm[Hg]",
        measured_at=now - timedelta(minutes=30) + timedelta(milliseconds=seq),
        dangerous=False,  # bp.crisis waits for confirmation (stream/rule_thresholds.py)
    )  # fmt: skip


class Client:
    """One websocket client counting the alert events it receives."""

    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.received_at: dict[str, float] = {}  # detection id -> wall time of receipt
        self.last_at = 0.0
        self.closed: int | None = None

    async def run(self, url: str, token: str, ready: asyncio.Event) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        try:
            async with websockets.connect(url, additional_headers=headers, max_size=2**20) as ws:
                orjson.loads(await ws.recv())  # hello
                ready.set()
                async for raw in ws:
                    now = time.time()
                    event = orjson.loads(raw)
                    if event.get("type") != "alert_event":
                        continue
                    self.seqs.append(event["seq"])
                    self.last_at = now
                    if "detection_id" in event:
                        self.received_at.setdefault(event["detection_id"], now)
        except websockets.ConnectionClosed as closed:
            self.closed = closed.rcvd.code if closed.rcvd else 1006


async def _connect(url: str, token: str, n: int) -> tuple[list[Client], list[asyncio.Task[None]]]:
    clients = [Client() for _ in range(n)]
    tasks = []
    for c in clients:  # one at a time: a burst of 100 handshakes is not what is measured
        ready = asyncio.Event()
        tasks.append(asyncio.create_task(c.run(url, token, ready)))
        await asyncio.wait_for(ready.wait(), 10)
    return clients, tasks


async def _template(pool: AsyncConnectionPool, team: Sequence[SimPatient]) -> AlertEvent:
    """Open a real alert for the team through the pipeline's writer; its opening event (ids are
    deterministic, so the pure episode function names the event the writer stored)."""
    crisis = _crisis(team[0], 1, datetime.now(UTC))
    await PgAlertStore(pool).record([crisis])
    return open_or_update(None, crisis)[1]


async def _write(pool: AsyncConnectionPool, template: AlertEvent, events: int, chunk: int) -> None:
    """`events` copies of `template` (fresh ids), appended in transactions of `chunk`."""
    for k in range(0, events, chunk):
        copies = [replace(template, event_id=uuid.uuid4()) for _ in range(min(chunk, events - k))]
        await append_events(pool, copies)


async def burst(
    pool: AsyncConnectionPool, dsn: str, token: str, template: AlertEvent, clients: int, events: int
) -> dict[str, Any]:
    """Write `events` alert events in transactions of `CHUNK`; deliveries/s to `clients`."""
    after = await max_event_seq(dsn)
    conns, tasks = await _connect(f"{URL}?after={after}", token, clients)
    t0 = time.time()
    await _write(pool, template, events, CHUNK)
    written = time.time()
    deadline = time.monotonic() + 60
    while any(len(c.seqs) < events and c.closed is None for c in conns):
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.005)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    delivered = sum(len(c.seqs) for c in conns)
    last = max(c.last_at for c in conns)
    ok = all(c.seqs == sorted(set(c.seqs)) for c in conns)
    return {
        "clients": clients,
        "events": events,
        "delivered": delivered,
        "complete": delivered == events * clients and ok,
        "cut_off": sum(c.closed is not None for c in conns),
        "write_s": round(written - t0, 3),
        "total_s": round(last - t0, 3),
        "deliveries_per_s": round(delivered / max(last - t0, 1e-6)),
    }


async def writer_rate(
    pool: AsyncConnectionPool, dsn: str, team: Sequence[SimPatient], detections: int
) -> float:
    """Alert events per second that the pipeline's own writer (escalation included) produces
    for crisis detections in transactions of `CHUNK`: what a real burst is limited by."""
    before = await max_event_seq(dsn)
    now = datetime.now(UTC)
    found = [_crisis(team[i % len(team)], 1000 + i, now) for i in range(detections)]
    store = PgAlertStore(pool)
    t0 = time.perf_counter()
    for k in range(0, len(found), CHUNK):
        await store.record(found[k : k + CHUNK])
    elapsed = time.perf_counter() - t0
    return (await max_event_seq(dsn) - before) / elapsed


async def ws_figures(
    settings: Settings, clients: int, events: int, detections: int, live_s: float
) -> dict[str, Any]:
    bench = await enrolled(settings)
    logs: Path = bench.settings.state_dir / "logs"
    await asyncio.to_thread(logs.mkdir, parents=True, exist_ok=True)
    env = {"VIGIL_DB__DSN": bench.dsn, "VIGIL_API__PORT": str(PORT),
           "VIGIL_MQTT__CLIENT_ID": "vigil-bench-ws"}  # fmt: skip
    async with AsyncConnectionPool(bench.dsn, min_size=1, max_size=1, open=False) as pool:
        charge = await issue_token(pool, CHARGE_NURSE, datetime.now(UTC), timedelta(hours=1))
        procs = Processes(bench.settings, env, logs)
        procs.start("api")
        try:
            one, many, writer = await _bursts(pool, bench, clients, events, detections)
        finally:
            procs.stop()
    push = await _push(bench, charge, live_s, env, logs)
    return {
        "deliveries_per_s": many["deliveries_per_s"],
        "deliveries_per_s_1_client": one["deliveries_per_s"],
        "fanout_ratio": round(many["deliveries_per_s"] / max(one["deliveries_per_s"], 1), 2),
        "writer_events_per_s": round(writer),
        **push,
        "burst": many,
        "burst_1_client": one,
        "storage_mode": bench.storage_mode,
    }


async def _bursts(
    pool: AsyncConnectionPool, bench: Bench, clients: int, events: int, detections: int
) -> tuple[dict[str, Any], dict[str, Any], float]:
    """With `vigil api` starting: the burst to one client and to `clients` nurses of one team,
    then the pipeline writer's rate (on the same team)."""
    team = [p for p in bench.patients if p.team_id == bench.patients[0].team_id]
    nurse = await issue_token(pool, f"nurse-{team[0].team_id}", datetime.now(UTC),
                              timedelta(hours=1))  # fmt: skip
    await wait_port(PORT)
    template = await _template(pool, team)
    one = await burst(pool, bench.dsn, nurse, template, 1, events)
    many = await burst(pool, bench.dsn, nurse, template, clients, events)
    return one, many, await writer_rate(pool, bench.dsn, team, detections)


async def _push(
    bench: Bench, token: str, live_s: float, env: dict[str, str], logs: Path
) -> dict[str, Any]:
    """Detection -> websocket receipt under live load on `vigil run`, for one client (the charge
    nurse); with the publish -> detection figures of the same load."""
    cid = "vigil-bench-ws-live"
    procs = Processes(bench.settings, {**env, "VIGIL_MQTT__CLIENT_ID": cid}, logs)
    procs.start("run")
    try:
        await wait_port(PORT)  # the log may hold an earlier run's "runner up"
        (client,), tasks = await _connect(URL, token, 1)
        counted_from = time.time() + WARMUP_S  # as live_latency: after its warm-up
        live = await live_latency(bench.settings, bench.dsn, bench.patients, 1000.0, live_s)
        await asyncio.sleep(1)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        procs.stop()
        broker.close_session(bench.settings, cid)
    created = {f.detection_id: f.created_at_s for f in await fired(bench.dsn, IMMEDIATE_RULES)
               if not f.late and f.created_at_s >= counted_from}  # fmt: skip
    lat = [(client.received_at[d] - at) * 1000 for d, at in created.items()
           if d in client.received_at]  # fmt: skip
    return {
        "push_p99_ms": round(percentile(lat, 99), 1),
        "push_p50_ms": round(percentile(lat, 50), 1),
        "push_max_ms": round(max(lat), 1) if lat else None,
        "push_samples": len(lat),
        "push_detections": len(created),
        "live_achieved_rps": live["achieved_rps"],
        "live_publish_to_detection_p50_ms": live["p50_ms"],
        "live_publish_to_detection_p99_ms": live["p99_ms"],
    }
