"""The API's answers to strangers (issue 14, finding 8), on real PostgreSQL: security headers on
every answer, /health split into a bare status for anyone and a detail for admins, readiness
that says "unavailable" while the database is unreachable, and a bound on websocket messages
in the real `vigil run` process."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
import websockets
from psycopg.conninfo import conninfo_to_dict
from websockets.asyncio.client import ClientConnection

from tests.integration.conftest import eventually
from tests.integration.devices import enrol
from tests.integration.rest_world import api_client, seed
from tests.integration.stack import running_stack
from tests.integration.ws_support import bearer, frame
from vigil.settings import Settings

pytestmark = pytest.mark.asyncio

NO_STORE = "no-store"


async def test_health_tells_strangers_the_status_word_only(dsn: str, tag: str) -> None:
    await seed(dsn, tag)
    async with api_client(dsn) as c:
        ready = await c.get("/health")
        assert (ready.status_code, ready.json()) == (200, {"status": "ok"})
        live = await c.get("/health/live")
        assert (live.status_code, live.json()) == (200, {"status": "alive"})


@pytest.mark.parametrize(("role", "status"), [("none", 401), ("expired", 401), ("device", 403),
                                              ("patient", 403), ("nurse", 403), ("doctor", 403),
                                              ("admin", 200)])  # fmt: skip
async def test_the_health_detail_is_for_admins(dsn: str, tag: str, role: str, status: int) -> None:
    world = await seed(dsn, tag)
    async with api_client(dsn) as c:
        answer = await c.get("/health/detail", headers=world.bearer(0, role))
    assert answer.status_code == status
    if status == 200:
        body = answer.json()
        assert body["status"] == "ok" and body["version"] and body["storage_mode"] == "plain"
        assert body["database"]["reachable"] is True
        assert "feed_seq" in body and "pipeline" in body


def unreachable(settings: Settings, dsn: str, down: bool) -> None:
    """The application's database refuses every new connection, and its sessions are ended."""
    name = conninfo_to_dict(dsn)["dbname"]
    with psycopg.connect(settings.db.admin_dsn.get_secret_value(), autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {"false" if down else "true"}')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )


async def test_health_is_unavailable_while_the_database_is_unreachable(
    settings: Settings, dsn: str, tag: str
) -> None:
    await seed(dsn, tag)
    async with api_client(dsn) as c:
        assert (await c.get("/health")).json() == {"status": "ok"}
        unreachable(settings, dsn, True)
        try:
            for _ in range(3):  # a broken pooled connection, then no connection at all
                down = await c.get("/health")
                assert (down.status_code, down.json()) == (503, {"status": "unavailable"})
            assert (await c.get("/health/live")).status_code == 200  # alive: no restart
        finally:
            unreachable(settings, dsn, False)

        async def back() -> bool:
            return (await c.get("/health")).status_code == 200

        assert await eventually(back, timeout_s=30)


PATHS = ["/health", "/health/live", "/health/detail", "/api/v1/patients", "/api/v1/teams",
         "/api/v1/patients/nobody", "/auth/me", "/signin", "/no/such/page"]  # fmt: skip


@pytest.mark.parametrize("path", PATHS)
async def test_every_answer_carries_the_security_headers(dsn: str, tag: str, path: str) -> None:
    world = await seed(dsn, tag)
    async with api_client(dsn) as c:
        for headers in ({}, world.bearer(0, "nurse")):
            h = (await c.get(path, headers=headers)).headers
            assert h["x-content-type-options"] == "nosniff"
            assert "frame-ancestors 'none'" in h["content-security-policy"]
            assert "script-src 'self'" in h["content-security-policy"]  # the pages' policy
            assert h["referrer-policy"] == "same-origin"
            assert NO_STORE in h["cache-control"], path
            assert "strict-transport-security" not in h  # plain http: no HSTS


async def test_static_assets_stay_cacheable_and_tls_brings_hsts(dsn: str, tag: str) -> None:
    await seed(dsn, tag)
    async with api_client(dsn) as c:
        asset = await c.get("/static/css/app.css")
        assert asset.status_code == 200 and asset.headers["x-content-type-options"] == "nosniff"
        assert NO_STORE not in asset.headers.get("cache-control", "")
        over_tls = await c.get("https://vigil.test/health")
        assert over_tls.headers["strict-transport-security"].startswith("max-age=")
        assert over_tls.headers["cache-control"] == NO_STORE


async def close_code(ws: ClientConnection) -> int | None:
    """Read until the server closes the socket; its close code."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), 10)
    except websockets.ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else None


async def test_the_running_api_bounds_websocket_messages(
    settings: Settings, dsn: str, tag: str, tmp_path: Path
) -> None:
    _, token = await enrol(settings, dsn, tag, patients=1)
    async with (
        running_stack(settings, dsn, tag, "embedded", tmp_path) as stack,
        websockets.connect(stack.ws_url, additional_headers=bearer(token), max_size=None) as ws,
    ):
        assert (await frame(ws))["type"] == "hello"
        await ws.send(json.dumps({"type": "ack", "pad": "x" * 60_000}))
        reply: dict[str, Any] = await frame(ws)
        while reply["type"] == "alert_event":
            reply = await frame(ws)
        assert (reply["type"], reply["code"]) == ("error", "invalid_message")  # still open
        await ws.send("x" * 100_000)
        assert await close_code(ws) == 1009  # message too big: closed before it is buffered
