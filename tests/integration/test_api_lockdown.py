"""The API's answers to strangers (issue 14, finding 8), on real PostgreSQL: security headers on
every answer, /health split into a bare status for anyone and a detail for admins, readiness
that says "unavailable" while the database is unreachable, and a bound on websocket messages
in the real `vigil run` process."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import websockets
from psycopg.conninfo import conninfo_to_dict
from pydantic import SecretStr
from websockets.asyncio.client import ClientConnection

from api.app import create_app
from api.feed import AlertFeed
from tests.integration.conftest import eventually
from tests.integration.devices import enrol
from tests.integration.rest_world import api_client, seed, utc_now
from tests.integration.stack import running_stack
from tests.integration.ws_support import bearer, frame
from vigil.runtime import open_pool
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


async def test_the_first_request_after_the_database_ended_its_sessions_is_served(
    settings: Settings, dsn: str, tag: str
) -> None:
    """The product's pool (vigil.runtime.open_pool) checks a connection as it is taken: after a
    database restart, requests do not fail on the dead connections still pooled."""
    world = await seed(dsn, tag)
    mine = settings.model_copy(update={"db": settings.db.model_copy(
        update={"dsn": SecretStr(dsn), "pool_min": 2, "pool_max": 2})})  # fmt: skip
    async with open_pool(mine) as pool:
        app = create_app(pool=pool, feed=AlertFeed(pool, dsn), clock=utc_now, allowed_origins=[],
                         storage_mode="plain")  # fmt: skip
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://vigil.test") as c:
            assert (
                await c.get("/api/v1/teams", headers=world.bearer(0, "nurse"))
            ).status_code == 200
            unreachable(settings, dsn, False)  # ends every session, connections stay allowed
            for _ in range(3):
                teams = await c.get("/api/v1/teams", headers=world.bearer(0, "nurse"))
                assert teams.status_code == 200, teams.text


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


async def test_the_running_api_answers_strangers_little_and_bounds_websocket_messages(
    settings: Settings, dsn: str, tag: str, tmp_path: Path
) -> None:
    _, token = await enrol(settings, dsn, tag, patients=1)
    async with (
        running_stack(settings, dsn, tag, "embedded", tmp_path) as stack,
        websockets.connect(stack.ws_url, additional_headers=bearer(token), max_size=None) as ws,
    ):
        assert (await frame(ws))["type"] == "hello"
        answer = await asyncio.to_thread(urllib.request.urlopen, f"{stack.api_url}/health", None, 5)
        with answer:
            assert json.loads(answer.read()) == {"status": "ok"}
            assert answer.headers["cache-control"] == NO_STORE
            assert answer.headers.get("server") is None  # the software is not named
        await ws.send(json.dumps({"type": "ack", "pad": "x" * 60_000}))
        reply: dict[str, Any] = await frame(ws)
        while reply["type"] == "alert_event":
            reply = await frame(ws)
        assert (reply["type"], reply["code"]) == ("error", "invalid_message")  # still open
        await ws.send("x" * 100_000)
        assert await close_code(ws) == 1009  # message too big: closed before it is buffered
