"""`vigil bench ws`: the alerts websocket under load, on the real services and processes.

- `deliveries_per_s`: C websocket clients (the nurse of one care team) connected to `vigil api`;
  a burst of alert events is written to the database by the pipeline's own writer
  (`PgAlertStore.record`, crisis detections in transactions of `CHUNK`); deliveries = events x
  clients, per second from the first insert to the last receipt. The same burst with one client
  is the baseline (`deliveries_per_s_1_client`, i.e. events/s through the whole path).
- `push_p99_ms` / `push_p50_ms`: detection -> websocket receipt. `vigil run` ingests ~1,000
  readings/s of simulated devices over Mosquitto (`bench_stream.live_latency`, which sends about
  3 % of CGM and wearable messages with a value dangerous on its own); one client (the charge
  nurse, every team) records when each detection's event arrives. Latency is measured from the
  detection row's `created_at` (the start of the writer's transaction, same clock) to receipt;
  the publish -> detection part is the `live_publish_to_detection_*` figures of the same run.

The clients run in this process, the API in its own: the clients' decoding is not the server's
cost, and on a 2-core machine they compete with it for CPU (so the figures are a lower bound).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg
import websockets
from psycopg_pool import AsyncConnectionPool
from pydantic import SecretStr

from alerts._sql import EVENT_ORDER_LOCK, EVENTS_CHANNEL
from alerts.repository import PgAlertStore
from api.auth import issue_token
from simulators.fleet import SimPatient, cohort
from stream.detections import Detection, Severity, Worse, detection_id
from bench import live as bs
from vigil.demo import CHARGE_NURSE, enrol_demo
from vigil.settings import Settings

CHUNK = 100  # events (or detections) per writer transaction
PORT = 18762


def _crisis(p: SimPatient, seq: int, now: datetime) -> Detection:
    device = f"{p.patient_id}-bench"
    return Detection(
        id=detection_id("bp.crisis", p.patient_id, device, seq, "systolic_bp"),
        rule_id="bp.crisis", title="Hypertensive crisis", severity=Severity.CRITICAL,
        worse=Worse.HIGHER, patient_id=p.patient_id, device_id=device, seq=seq,
        metric="systolic_bp", value=185.0 + seq % 20, unit="mm[Hg]",
        measured_at=now - timedelta(minutes=30) + timedelta(milliseconds=seq),
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


async def _visible(dsn: str, team: str, after: int) -> int:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM alert_events e JOIN patients p ON p.id = e.patient_id"
            " WHERE e.seq > %s AND p.team_id = %s AND e.tier >= 2",
            (after, team),
        )
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def _max_seq(dsn: str) -> int:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        cur = await conn.execute("SELECT COALESCE(max(seq), 0) FROM alert_events")
        row = await cur.fetchone()
    return int(row[0]) if row else 0


# Copies of a real alert event (same alert, payload and tier, fresh ids), appended the way every
# alert writer appends: under the event-order lock, with a NOTIFY delivered at commit.
_REPLICATE = """
    INSERT INTO alert_events (event_id, alert_id, patient_id, kind, at, payload, actor, tier)
    SELECT gen_random_uuid(), e.alert_id, e.patient_id, e.kind, e.at, e.payload, e.actor, e.tier
      FROM alert_events e, generate_series(1, %(n)s)
     WHERE e.seq = %(seq)s
"""


async def _template(dsn: str, team: Sequence[SimPatient]) -> int:
    """Open a real alert for the team through the pipeline's writer; its opening event's seq."""
    async with AsyncConnectionPool(dsn, min_size=1, max_size=1, open=False) as pool:
        await PgAlertStore(pool).record([_crisis(team[0], 1, datetime.now(UTC))])
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        cur = await conn.execute(
            "SELECT min(seq) FROM alert_events WHERE patient_id = %s AND kind = 'opened'",
            (team[0].patient_id,),
        )
        row = await cur.fetchone()
    if row is None or row[0] is None:
        raise RuntimeError("the template alert was not opened")
    return int(row[0])


async def _write(dsn: str, template: int, events: int, chunk: int) -> None:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        for k in range(0, events, chunk):
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (EVENT_ORDER_LOCK,))
                await conn.execute(_REPLICATE, {"n": min(chunk, events - k), "seq": template})
                await conn.execute("SELECT pg_notify(%s, '')", (EVENTS_CHANNEL,))


async def burst(
    dsn: str, url: str, token: str, template: int, clients: int, events: int
) -> dict[str, Any]:
    """Write `events` alert events in transactions of `CHUNK`; deliveries/s to `clients`."""
    after = await _max_seq(dsn)
    conns, tasks = await _connect(f"{url}?after={after}", token, clients)
    t0 = time.time()
    await _write(dsn, template, events, CHUNK)
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


async def writer_rate(dsn: str, team: Sequence[SimPatient], detections: int) -> float:
    """Alert events per second that the pipeline's own writer (escalation included) produces
    for crisis detections in transactions of `CHUNK`: what a real burst is limited by."""
    before = await _max_seq(dsn)
    now = datetime.now(UTC)
    found = [_crisis(team[i % len(team)], 1000 + i, now) for i in range(detections)]
    async with AsyncConnectionPool(dsn, min_size=1, max_size=1, open=False) as pool:
        store = PgAlertStore(pool)
        t0 = time.perf_counter()
        for k in range(0, len(found), CHUNK):
            await store.record(found[k : k + CHUNK])
        elapsed = time.perf_counter() - t0
    return (await _max_seq(dsn) - before) / elapsed


async def ws_figures(
    settings: Settings, clients: int, events: int, detections: int, live_s: float
) -> dict[str, Any]:
    from bench.cli import _bench_database

    dsn, mode = _bench_database(settings)
    settings = settings.model_copy(
        update={"db": settings.db.model_copy(update={"dsn": SecretStr(dsn)})}
    )
    patients = cohort(50, 1, prefix="bench")
    await enrol_demo(settings, patients=50, seed=1, prefix="bench", dsn=dsn)
    team = [p for p in patients if p.team_id == patients[0].team_id]
    logs: Path = settings.state_dir / "logs"
    await asyncio.to_thread(logs.mkdir, parents=True, exist_ok=True)
    env = {"VIGIL_DB__DSN": dsn, "VIGIL_API__PORT": str(PORT), "VIGIL_MQTT__CLIENT_ID": "bench-ws"}
    url = f"ws://127.0.0.1:{PORT}/ws/alerts"
    async with AsyncConnectionPool(dsn, min_size=1, max_size=1, open=False) as pool:
        nurse = await issue_token(pool, f"nurse-{team[0].team_id}", datetime.now(UTC),
                                  timedelta(hours=1))  # fmt: skip
        charge = await issue_token(pool, CHARGE_NURSE, datetime.now(UTC), timedelta(hours=1))
    procs = bs.Processes(settings, env, logs)
    procs.start("api")
    try:
        await _wait_port(PORT)
        template = await _template(dsn, team)
        one = await burst(dsn, url, nurse, template, 1, events)
        many = await burst(dsn, url, nurse, template, clients, events)
        writer = await writer_rate(dsn, team, detections)
    finally:
        procs.stop()
    push = await _push(settings, dsn, patients, url, charge, live_s, env, logs)
    return {
        "deliveries_per_s": many["deliveries_per_s"],
        "deliveries_per_s_1_client": one["deliveries_per_s"],
        "fanout_ratio": round(many["deliveries_per_s"] / max(one["deliveries_per_s"], 1), 2),
        "writer_events_per_s": round(writer),
        **push,
        "burst": many,
        "burst_1_client": one,
        "storage_mode": mode,
    }


async def _wait_port(port: int, timeout_s: float = 60) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.2)
            continue
        writer.close()
        return
    raise TimeoutError(f"nothing listens on {port}")


async def _push(
    settings: Settings, dsn: str, patients: list[SimPatient], url: str, token: str,
    live_s: float, env: dict[str, str], logs: Path,
) -> dict[str, Any]:  # fmt: skip
    procs = bs.Processes(settings, {**env, "VIGIL_MQTT__CLIENT_ID": "bench-ws-live"}, logs)
    procs.start("run")
    try:
        await _wait_port(PORT)  # the log may hold an earlier run's "runner up"
        (client,), tasks = await _connect(url, token, 1)
        counted_from = time.time() + bs.WARMUP_S  # as live_latency: after its warm-up
        live = await bs.live_latency(settings, dsn, patients, 1000.0, live_s)
        await asyncio.sleep(1)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        procs.stop()
        from bench.ingest import close_session

        close_session(settings, "bench-ws-live")
    created = {d: at for d, at in (await _detections(dsn)).items() if at >= counted_from}
    lat = [(client.received_at[d] - at) * 1000 for d, at in created.items()
           if d in client.received_at]  # fmt: skip
    return {
        "push_p99_ms": round(bs._pct(lat, 99), 1),
        "push_p50_ms": round(bs._pct(lat, 50), 1),
        "push_max_ms": round(max(lat), 1) if lat else None,
        "push_samples": len(lat),
        "push_detections": len(created),
        "live_achieved_rps": live["achieved_rps"],
        "live_publish_to_detection_p50_ms": live["p50_ms"],
        "live_publish_to_detection_p99_ms": live["p99_ms"],
    }


async def _detections(dsn: str) -> dict[str, float]:
    """Fired immediate-rule detections: id -> created_at (epoch seconds)."""
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        cur = await conn.execute(
            "SELECT id, extract(epoch FROM created_at) FROM detections"
            " WHERE rule_id = ANY(%s) AND kind = 'fired' AND NOT late",
            (list(bs.IMMEDIATE_RULES),),
        )
        return {str(uuid.UUID(str(i))): float(t) for i, t in await cur.fetchall()}
