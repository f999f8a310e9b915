"""Websocket test helpers: the API served in-process by uvicorn on a free loopback port (real
sockets, real PostgreSQL), clients that collect frames, and marker events written straight into
`alert_events` with a chosen tier (to check scoping without depending on escalation rules)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import uvicorn
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from websockets.asyncio.client import ClientConnection

from alerts._sql import EVENT_ORDER_LOCK, EVENTS_CHANNEL
from alerts.response import PgResponse
from api.app import create_app
from api.feed import AlertFeed
from api.session_policy import SessionPolicy
from tests.integration.stack import free_port


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Server:
    url: str
    pool: AsyncConnectionPool
    feed: AlertFeed


@contextlib.asynccontextmanager
async def api_server(
    dsn: str,
    *,
    queue_max: int = 1000,
    clock: Callable[[], datetime] = utc_now,
    sessions: SessionPolicy | None = None,
) -> AsyncIterator[Server]:
    async with AsyncConnectionPool(dsn, min_size=1, max_size=6, open=False) as pool:
        feed = AlertFeed(pool, dsn, queue_max=queue_max)
        app = create_app(
            pool=pool,
            feed=feed,
            clock=clock,
            allowed_origins=["http://allowed.example"],
            storage_mode="plain",
            response=PgResponse(pool, clock),
            sessions=sessions,
        )
        port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                lifespan="on", ws_per_message_deflate=False)  # fmt: skip
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
        try:
            yield Server(f"ws://127.0.0.1:{port}/ws/alerts", pool, feed)
        finally:
            server.should_exit = True
            await task


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def frame(ws: ClientConnection, timeout_s: float = 10.0) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout_s))
    return result


async def events(ws: ClientConnection, n: int, timeout_s: float = 10.0) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while len(out) < n:
        msg = await frame(ws, timeout_s)
        if msg["type"] == "alert_event":
            out.append(msg)
    return out


async def before_fence(ws: ClientConnection, timeout_s: float = 10.0) -> list[dict[str, Any]]:
    """Every frame up to the fence `write_fence` wrote for this client's team. The fence proves
    the client was listening, and the feed delivers in order: anything that was going to come
    came before it. `== []` is how a test says "nothing more", without waiting a while."""
    out: list[dict[str, Any]] = []
    while True:
        msg = await frame(ws, timeout_s)
        if str(msg.get("marker", "")).endswith("|fence"):
            return out
        out.append(msg)


async def max_seq(pool: AsyncConnectionPool) -> int:
    async with pool.connection() as conn:
        row = await (
            await conn.execute("SELECT COALESCE(max(seq), 0) FROM alert_events")
        ).fetchone()
    return int(row[0]) if row else 0


async def write_markers(
    pool: AsyncConnectionPool,
    alerts: list[tuple[str, str]],  # (alert_id, patient_id)
    tiers: tuple[int, ...] = (1, 2, 3),
    per: int = 1,
    pad: int = 0,
    label: str | None = None,
) -> None:
    """`per` marker events per alert and tier, in one transaction, then a NOTIFY. The marker
    reads "patient|tier", or "patient|label" when a label is given."""
    rows = [
        (uuid.uuid4(), alert_id, patient_id, utc_now(),
         Jsonb({"marker": f"{patient_id}|{label or tier}", "pad": "x" * pad}), tier)
        for alert_id, patient_id in alerts for tier in tiers for _ in range(per)
    ]  # fmt: skip
    async with pool.connection() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (EVENT_ORDER_LOCK,))
        async with conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO alert_events (event_id, alert_id, patient_id, kind, at, payload, tier)"
                " VALUES (%s, %s, %s, 'marker', %s, %s, %s)",
                rows,
            )
        await conn.execute("SELECT pg_notify(%s, '')", (EVENTS_CHANNEL,))


async def write_fence(pool: AsyncConnectionPool, alerts: list[tuple[str, str]]) -> None:
    """One fence event per alert at tier 3, which every staff role sees (see `before_fence`)."""
    await write_markers(pool, alerts, tiers=(3,), label="fence")
