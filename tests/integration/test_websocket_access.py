"""The websocket part of the access matrix: three care teams, each with a nurse, a doctor, an
admin, a patient and a device. Staff see their own team's events at their role's tiers (nurse 2
and 3, doctor 3, admin all), in the backlog and live; patients and devices are refused (4403);
nothing of another team ever reaches anyone."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from api.feed import ROLE_TIERS
from tests.integration.rest_world import TEAMS, World, seed
from tests.integration.ws_support import (
    Server,
    api_server,
    bearer,
    before_fence,
    events,
    frame,
    max_seq,
    write_fence,
    write_markers,
)

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(90)]

STAFF = ("nurse", "doctor", "admin")


def expected(world: World, team: int, role: str) -> set[str]:
    patient = world.teams[team].patients[0]
    return {f"{patient}|{tier}" for tier in ROLE_TIERS[role]}


async def test_each_role_sees_its_teams_and_tiers_only(dsn: str, tag: str) -> None:
    world = await seed(dsn, tag)
    alerts = [(t.alert_id, t.patients[0]) for t in world.teams]
    async with api_server(dsn) as server, contextlib.AsyncExitStack() as stack:
        after = await max_seq(server.pool)
        await write_markers(server.pool, alerts)  # before anyone connects: the backlog
        sockets: dict[tuple[int, str], ClientConnection] = {}
        for team in range(TEAMS):
            for role in STAFF:
                ws = await stack.enter_async_context(websockets.connect(
                    f"{server.url}?after={after}", additional_headers=world.bearer(team, role)))  # fmt: skip
                hello = await frame(ws)
                assert hello["teams"] == [world.teams[team].id]
                assert hello["tiers"] == sorted(ROLE_TIERS[role]) and hello["role"] == role
                sockets[team, role] = ws
        backlog = await _markers(server, alerts, sockets)
        await write_markers(server.pool, alerts)  # while everyone is connected: live
        live = await _markers(server, alerts, sockets)
    for (team, role), got in backlog.items():
        assert set(got) == expected(world, team, role), (team, role, got)
        assert len(got) == len(set(got))
    assert live == backlog


async def _markers(
    server: Server, alerts: list[tuple[str, str]], sockets: dict[tuple[int, str], ClientConnection]
) -> dict[Any, list[str]]:
    """Each socket's markers, then a fence: nothing else reached anyone before the fence."""

    async def one(key: tuple[int, str], ws: ClientConnection) -> list[str]:
        return [e["marker"] for e in await events(ws, len(ROLE_TIERS[key[1]]))]

    keys = list(sockets)
    results = await asyncio.gather(*(one(k, sockets[k]) for k in keys))
    await write_fence(server.pool, alerts)
    extra = await asyncio.gather(*(before_fence(sockets[k]) for k in keys))
    assert dict(zip(keys, extra, strict=True)) == {k: [] for k in keys}
    return dict(zip(keys, results, strict=True))


@pytest.mark.parametrize("role", ["patient", "device"])
@pytest.mark.parametrize("how", ["header", "message"])
async def test_patients_and_devices_are_refused(dsn: str, tag: str, role: str, how: str) -> None:
    world = await seed(dsn, tag)
    token = world.tokens[0, role]
    async with api_server(dsn) as server:
        headers = bearer(token) if how == "header" else {}
        async with websockets.connect(server.url, additional_headers=headers) as ws:
            if how == "message":
                await ws.send(f'{{"type": "auth", "token": "{token}"}}')
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


async def test_an_expired_token_is_refused_at_the_handshake(dsn: str, tag: str) -> None:
    world = await seed(dsn, tag)
    async with api_server(dsn) as server:
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(
                server.url, additional_headers=world.bearer(0, "expired")
            ):
                pass
        assert refused.value.response.status_code == 403
