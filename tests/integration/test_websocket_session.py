"""The alerts websocket with a signed-in session's cookie (issue 10): a browser on an allowed
Origin needs no token; an expired or ended session closes the socket with 4440, an unknown one
with 4401; without an Origin the cookie counts for nothing."""

from __future__ import annotations

import json

import httpx
import pytest
import websockets
from websockets.typing import Origin

from api.session_policy import SessionPolicy
from tests.integration.session_world import PASSWORD, Clock, login, seed_accounts
from tests.integration.ws_support import api_server, frame, utc_now

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]

ALLOWED = Origin("http://allowed.example")
POLICY = SessionPolicy(idle_s=1800, absolute_s=7200, ws_check_s=0.05)


async def signed_in(http: str, who: str) -> tuple[str, str]:
    """(cookie value, csrf token)"""
    async with httpx.AsyncClient(base_url=http) as c:
        r = await c.post("/auth/signin", data={"login": who, "password": PASSWORD},
                         headers={"Accept": "application/json"})  # fmt: skip
        assert r.status_code == 200, r.text
        return r.cookies["vigil_session"], r.json()["session"]["csrf_token"]


def cookie(value: str) -> dict[str, str]:
    return {"Cookie": f"vigil_session={value}"}


async def close_code(ws: websockets.ClientConnection) -> int:
    """The code the server closes with, after whatever frames came before."""
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await _drain(ws)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


async def _drain(ws: websockets.ClientConnection) -> None:
    while True:
        await frame(ws)


async def test_the_cookie_opens_the_feed_and_sign_out_closes_it(dsn: str, tag: str) -> None:
    w = await seed_accounts(dsn, tag)
    async with api_server(dsn, sessions=POLICY) as server:
        http = server.url.replace("ws://", "http://").removesuffix("/ws/alerts")
        session, csrf = await signed_in(http, login(w, "nurse"))
        async with websockets.connect(server.url, origin=ALLOWED,
                                      additional_headers=cookie(session)) as ws:  # fmt: skip
            hello = await frame(ws)
            assert (hello["type"], hello["staff_id"]) == ("hello", w.staff(0, "nurse"))
            assert hello["teams"] == [w.teams[0].id]
            async with httpx.AsyncClient(base_url=http, cookies={"vigil_session": session}) as c:
                out = await c.post("/auth/signout", headers={"X-CSRF-Token": csrf,
                                                             "Accept": "application/json"})  # fmt: skip
            assert out.json() == {"signed_out": True}
            assert await close_code(ws) == 4440
        async with websockets.connect(server.url, origin=ALLOWED,
                                      additional_headers=cookie(session)) as ws:  # fmt: skip
            assert await close_code(ws) == 4401  # signed out: not a session any more


async def test_an_idle_session_is_refused_with_the_expiry_code(dsn: str, tag: str) -> None:
    w = await seed_accounts(dsn, tag)
    clock = Clock(utc_now())
    async with api_server(dsn, sessions=POLICY, clock=clock) as server:
        http = server.url.replace("ws://", "http://").removesuffix("/ws/alerts")
        session, _ = await signed_in(http, login(w, "doctor"))
        async with websockets.connect(server.url, origin=ALLOWED,
                                      additional_headers=cookie(session)) as ws:  # fmt: skip
            assert (await frame(ws))["type"] == "hello"
            clock.advance(minutes=31)  # the open socket is no use of the session
            assert await close_code(ws) == 4440
        async with websockets.connect(server.url, origin=ALLOWED,
                                      additional_headers=cookie(session)) as ws:  # fmt: skip
            assert await close_code(ws) == 4401  # ended as idle: no longer an open session
        fresh, _ = await signed_in(http, login(w, "doctor"))
        clock.advance(minutes=31)
        async with websockets.connect(server.url, origin=ALLOWED,
                                      additional_headers=cookie(fresh)) as ws:  # fmt: skip
            assert await close_code(ws) == 4440  # idle at the handshake


async def test_without_an_origin_the_cookie_counts_for_nothing(dsn: str, tag: str) -> None:
    w = await seed_accounts(dsn, tag)
    async with api_server(dsn, sessions=POLICY) as server:
        http = server.url.replace("ws://", "http://").removesuffix("/ws/alerts")
        session, _ = await signed_in(http, login(w, "nurse"))
        async with websockets.connect(server.url, additional_headers=cookie(session)) as ws:
            await ws.send(json.dumps({"type": "auth", "token": "not-a-token"}))
            assert await close_code(ws) == 4401
