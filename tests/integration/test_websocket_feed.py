"""The alerts websocket's delivery guarantees, on the API served in-process over real sockets and
PostgreSQL: resume across forced disconnects while events keep being written (no loss, no
duplicate), a client that stops reading is cut off (4408) without stalling the others, an
expiring token closes the socket (4440), and acknowledgements over the socket."""

from __future__ import annotations

import asyncio
import json
import socket
from datetime import timedelta
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from alerts.repository import PgAlertStore
from api.auth import issue_subject_token
from tests.integration import ws_support as wss
from tests.integration.rest_world import crisis, seed
from tests.integration.ws_support import api_server, events, frame, utc_now

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(90)]


async def visible_seqs(server: Any, team_id: str, tiers: list[int], after: int) -> list[int]:
    async with server.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT e.seq FROM alert_events e JOIN patients p ON p.id = e.patient_id"
            " WHERE p.team_id = %s AND e.tier = ANY(%s) AND e.seq > %s ORDER BY e.seq",
            (team_id, tiers, after),
        )
        return [int(r[0]) for r in await cur.fetchall()]


async def test_resume_across_forced_disconnects_while_events_are_written(
    dsn: str, tag: str
) -> None:
    world = await seed(dsn, tag)
    team = world.teams[0]
    alerts = [(t.alert_id, t.patients[0]) for t in world.teams]
    async with api_server(dsn) as server:
        start = last = await wss.max_seq(server.pool)

        async def writer() -> None:
            store = PgAlertStore(server.pool, utc_now)
            for k in range(40):
                await wss.write_markers(server.pool, alerts)
                await store.record([crisis(team.patients[0], team.device, 100 + k)])
                await asyncio.sleep(0.02)

        writing = asyncio.create_task(writer())
        seen: list[int] = []
        for cut in (5, 17, 40, None):  # forced disconnects after these many events, then done
            async with websockets.connect(
                f"{server.url}?after={last}", additional_headers=world.bearer(0, "nurse")
            ) as ws:
                assert (await frame(ws))["after"] == last
                if cut is None:
                    await writing
                    await wss.write_fence(server.pool, [(team.alert_id, team.patients[0])])
                    seen += [e["seq"] for e in await wss.before_fence(ws)]
                    break
                while len(seen) < cut:
                    seen += [e["seq"] for e in await events(ws, 1)]
                last = seen[-1]
                ws.transport.abort()  # no close handshake: as if the network dropped
        *expected, _fence = await visible_seqs(server, team.id, [2, 3], start)
    assert seen == expected  # every event, once, in order, across four connections
    assert len(expected) >= 40 + 40 * 2  # markers at tiers 2 and 3 and the crisis events


def small_buffer_socket(url: str) -> socket.socket:
    """A client socket with a tiny receive buffer, so a client that stops reading backs up the
    server within a few events rather than a few megabytes."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    host, port = url.removeprefix("ws://").split("/")[0].split(":")
    sock.connect((host, int(port)))
    sock.setblocking(False)
    return sock


async def test_a_client_that_stops_reading_is_cut_off_and_others_keep_up(
    dsn: str, tag: str
) -> None:
    world = await seed(dsn, tag)
    team = world.teams[0]
    async with api_server(dsn, queue_max=100) as server:
        headers = world.bearer(0, "admin")
        stuck = await websockets.connect(server.url, additional_headers=headers,
                                         sock=small_buffer_socket(server.url),
                                         max_queue=1)  # fmt: skip
        try:
            assert (await frame(stuck))["type"] == "hello"  # and then it reads nothing
            async with websockets.connect(server.url, additional_headers=headers) as healthy:
                await frame(healthy)
                reading = asyncio.create_task(wss.before_fence(healthy))
                written = 0
                while server.feed.subscribers == 2 and written < 5000:
                    await wss.write_markers(server.pool, [(team.alert_id, team.patients[0])], (2,),
                                        per=20, pad=4000)  # fmt: skip
                    written += 20
                    await asyncio.sleep(0.01)
                assert server.feed.subscribers == 1, "the stuck client was never cut off"
                await wss.write_fence(server.pool, [(team.alert_id, team.patients[0])])
                got = await reading  # all of it, while the other one was stuck
            *expected, _fence = await visible_seqs(server, team.id, [1, 2, 3], 0)
            assert [e["seq"] for e in got] == expected
            assert await close_code(stuck) == 4408
        finally:
            await stuck.close()


async def close_code(ws: ClientConnection) -> int | None:
    """Read until the server closes; its close code."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), 10)
    except websockets.ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else None


async def test_an_expiring_token_closes_the_socket(dsn: str, tag: str) -> None:
    world = await seed(dsn, tag)
    async with api_server(dsn) as server:
        token = await issue_subject_token(server.pool, utc_now(), timedelta(seconds=2),
                                          staff_id=world.staff(0, "nurse"))  # fmt: skip
        async with websockets.connect(server.url, additional_headers=wss.bearer(token)) as ws:
            assert (await frame(ws))["type"] == "hello"
            assert await close_code(ws) == 4440  # after the backlog


async def ask(
    ws: ClientConnection, message: Any, seen: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Send `message` and return the reply; alert events that arrive first go to `seen` (the
    feed may deliver the action's own event before the reply to it)."""
    await ws.send(message if isinstance(message, str | bytes) else json.dumps(message))
    while True:
        reply = await frame(ws)
        if reply["type"] != "alert_event":
            return reply
        if seen is not None:
            seen.append(reply)


async def test_acknowledge_over_the_socket(dsn: str, tag: str) -> None:
    world = await seed(dsn, tag)
    own, other = world.teams[0].alert_id, world.teams[1].alert_id
    async with api_server(dsn) as server:
        after = await wss.max_seq(server.pool)
        async with websockets.connect(
            f"{server.url}?after={after}", additional_headers=world.bearer(0, "nurse")
        ) as nurse:
            await frame(nurse)
            bad = await ask(nurse, {"type": "ack", "alert_id": other, "ref": "x"})
            assert (bad["ref"], bad["code"]) == ("x", "alert_not_found")
            tier3 = await ask(nurse, {"type": "ack", "alert_id": own, "ref": 1})
            assert tier3["code"] == "action_refused"  # a critical alert waits for a doctor
            for message, code in (("{not json", "invalid_message"), ("[1]", "invalid_message"),
                                  ({"type": "ack", "ref": 2}, "invalid_message"),
                                  ({"type": "ack", "alert_id": "nope"}, "invalid_message"),
                                  ({"type": "resolve", "ref": 3}, "unknown_type"),
                                  (b"\x00", "invalid_message")):  # fmt: skip
                reply = await ask(nurse, message)
                assert (reply["type"], reply["code"]) == ("error", code), message
            async with websockets.connect(
                f"{server.url}?after={after}", additional_headers=world.bearer(0, "doctor")
            ) as doctor:
                await frame(doctor)
                early: list[dict[str, Any]] = []  # the ack's event, if it beat the reply
                done = await ask(doctor, {"type": "ack", "alert_id": own, "ref": {"n": 1}}, early)
                assert done == {"type": "ack_result", "ref": {"n": 1}, "ok": True,
                                "alert": done["alert"]}  # fmt: skip
                assert done["alert"]["acknowledged_by"] == world.staff(0, "doctor")
                for ws, got in ((doctor, early), (nurse, [])):  # the nurse's socket sees it too
                    (event,) = got or await events(ws, 1)
                    assert (event["kind"], event["alert_id"]) == ("acknowledged", own)
                    assert event["actor"] == world.staff(0, "doctor")
                await wss.write_fence(server.pool, [(own, world.teams[0].patients[0])])
                assert await wss.before_fence(nurse) == []  # the acknowledgement came once
