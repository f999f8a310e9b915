"""The alerts websocket on a running API: authentication at the handshake, origin check, team
scoping, resume by sequence number without loss or duplicates, and token expiry."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import websockets
from psycopg_pool import AsyncConnectionPool
from websockets.asyncio.client import ClientConnection

from alerts.repository import PgAlertStore
from api.auth import issue_token
from stream.detections import Detection, Severity, Worse, detection_id
from tests.integration.devices import enrol
from tests.integration.stack import Stack, running_stack
from vigil.settings import Settings

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(90)]


def crisis(patient_id: str, seq: int, value: float = 190.0) -> Detection:
    return Detection(
        id=detection_id("bp.crisis", patient_id, f"{patient_id}-bp", seq, "systolic_bp"),
        rule_id="bp.crisis", title="Hypertensive crisis",
        severity=Severity.CRITICAL, worse=Worse.HIGHER, patient_id=patient_id,
        device_id=f"{patient_id}-bp", seq=seq, metric="systolic_bp", value=value, unit="mm[Hg]",
        measured_at=datetime.now(UTC) - timedelta(minutes=10) + timedelta(seconds=seq),
    )  # fmt: skip


async def record(dsn: str, *detections: Detection) -> None:
    async with AsyncConnectionPool(dsn, min_size=1, max_size=1, open=False) as pool:
        await PgAlertStore(pool).record(detections)


async def token_for(dsn: str, staff_id: str, ttl: timedelta = timedelta(hours=1)) -> str:
    async with AsyncConnectionPool(dsn, min_size=1, max_size=1, open=False) as pool:
        return await issue_token(pool, staff_id, datetime.now(UTC), ttl)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def events(ws: ClientConnection, n: int, timeout_s: float = 10.0) -> list[dict[str, Any]]:
    out = []
    while len(out) < n:
        msg = json.loads(await asyncio.wait_for(ws.recv(), timeout_s))
        if msg["type"] == "alert_event":
            out.append(msg)
    return out


async def nothing_more(ws: ClientConnection, wait_s: float = 1.0) -> bool:
    try:
        msg = await asyncio.wait_for(ws.recv(), wait_s)
    except TimeoutError:
        return True
    raise AssertionError(f"unexpected message: {msg!r}")


@pytest_asyncio.fixture
async def stack(settings: Settings, dsn: str, tag: str, tmp_path: Path) -> Any:
    async with running_stack(settings, dsn, tag, "embedded", tmp_path) as s:
        yield s


async def test_without_a_valid_token_the_handshake_is_refused(
    stack: Stack, dsn: str, settings: Settings, tag: str
) -> None:
    await enrol(settings, dsn, tag, patients=2)
    for headers in ({}, bearer("not-a-token")):
        if not headers:  # no header: the server waits for an auth message, then closes
            async with websockets.connect(stack.ws_url) as ws:
                await ws.send(json.dumps({"type": "hello"}))
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await ws.recv()
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        else:
            with pytest.raises(websockets.InvalidStatus) as refused:
                async with websockets.connect(stack.ws_url, additional_headers=headers):
                    pass
            assert refused.value.response.status_code == 403


async def test_a_token_in_the_query_string_is_not_accepted(
    stack: Stack, dsn: str, settings: Settings, tag: str
) -> None:
    _, token = await enrol(settings, dsn, tag, patients=1)
    async with websockets.connect(f"{stack.ws_url}?token={token}") as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()  # no auth message within 5 s
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_a_foreign_origin_is_refused(
    stack: Stack, dsn: str, settings: Settings, tag: str
) -> None:
    _, token = await enrol(settings, dsn, tag, patients=1)
    with pytest.raises(websockets.InvalidStatus):
        async with websockets.connect(
            stack.ws_url, additional_headers=bearer(token), origin="http://evil.example"
        ):  # type: ignore[arg-type]
            pass


async def test_first_message_auth_and_team_scoping(
    stack: Stack, dsn: str, settings: Settings, tag: str
) -> None:
    patients, _ = await enrol(settings, dsn, tag, patients=2)  # patient 0 in team-0, 1 in team-1
    team0 = patients[0].team_id
    token = await token_for(dsn, f"nurse-{team0}")
    async with websockets.connect(stack.ws_url) as ws:
        await ws.send(json.dumps({"type": "auth", "token": token}))
        hello = json.loads(await ws.recv())
        assert hello["teams"] == [team0]
        await record(dsn, crisis(patients[1].patient_id, 1), crisis(patients[0].patient_id, 2))
        (event,) = await events(ws, 1)
        assert event["patient_id"] == patients[0].patient_id
        assert await nothing_more(ws)


async def test_resume_after_a_disconnect_misses_nothing_and_repeats_nothing(
    stack: Stack, dsn: str, settings: Settings, tag: str
) -> None:
    patients, token = await enrol(settings, dsn, tag, patients=2)
    p0, p1 = patients[0].patient_id, patients[1].patient_id
    await record(dsn, crisis(p0, 1), crisis(p1, 2), crisis(p0, 3))
    async with websockets.connect(stack.ws_url, additional_headers=bearer(token)) as ws:
        first = await events(ws, 3)
    assert [e["seq"] for e in first] == sorted(e["seq"] for e in first)
    last = first[-1]["seq"]
    # while disconnected: two new events, and one redelivered detection that must change nothing
    await record(dsn, crisis(p1, 4, 201.0), crisis(p0, 5), crisis(p0, 3))
    async with websockets.connect(
        f"{stack.ws_url}?after={last}", additional_headers=bearer(token)
    ) as ws:
        hello = json.loads(await ws.recv())
        assert hello["after"] == last
        later = await events(ws, 2)
        assert await nothing_more(ws)
        await record(dsn, crisis(p1, 6))  # and live events keep coming on the same socket
        (live,) = await events(ws, 1)
    seqs = [e["seq"] for e in first + later + [live]]
    assert seqs == sorted(set(seqs))  # strictly increasing: no duplicate, no reordering
    assert [(e["patient_id"], e["kind"]) for e in later] == [(p1, "updated"), (p0, "updated")]
    assert later[0]["worst_value"] == 201.0


async def test_an_expired_token_closes_the_socket(
    stack: Stack, dsn: str, settings: Settings, tag: str
) -> None:
    await enrol(settings, dsn, tag, patients=1)
    token = await token_for(dsn, "nurse-charge", ttl=timedelta(seconds=3))
    async with websockets.connect(stack.ws_url, additional_headers=bearer(token)) as ws:
        assert json.loads(await ws.recv())["type"] == "hello"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4440
    with pytest.raises(websockets.InvalidStatus):
        async with websockets.connect(stack.ws_url, additional_headers=bearer(token)):
            pass
