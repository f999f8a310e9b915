"""The alerts websocket on a running `vigil run`: authentication at the handshake, origin check,
team and tier scoping of pipeline events, and an acknowledgement over the socket. (Resume, slow
clients, expiry and ack errors: test_websocket_feed; the role matrix: test_websocket_access.)"""

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
from websockets.typing import Origin

from alerts.repository import PgAlertStore
from api.auth import issue_token
from stream.detections import Detection, Severity, Worse, detection_id
from tests.integration.devices import enrol
from tests.integration.stack import Stack, running_stack
from tests.integration.ws_support import bearer, before_fence, events, write_fence
from vigil.settings import Settings

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(90)]


def crisis(patient_id: str, seq: int, value: float = 190.0) -> Detection:
    return Detection(
        id=detection_id("bp.crisis", patient_id, f"{patient_id}-bp", seq, "systolic_bp"),
        rule_id="bp.crisis", title="Hypertensive crisis",
        severity=Severity.CRITICAL, worse=Worse.HIGHER, patient_id=patient_id,
        device_id=f"{patient_id}-bp", seq=seq, metric="systolic_bp", value=value, unit="mm[Hg]",
        measured_at=datetime.now(UTC) - timedelta(minutes=10) + timedelta(seconds=seq),
        dangerous=False,  # bp.crisis waits for confirmation (stream/rule_thresholds.py)
    )  # fmt: skip


async def record(dsn: str, *detections: Detection) -> None:
    async with AsyncConnectionPool(dsn, min_size=1, max_size=1, open=False) as pool:
        await PgAlertStore(pool).record(detections)


async def token_for(dsn: str, staff_id: str, ttl: timedelta = timedelta(hours=1)) -> str:
    async with AsyncConnectionPool(dsn, min_size=1, max_size=1, open=False) as pool:
        return await issue_token(pool, staff_id, datetime.now(UTC), ttl)


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
            stack.ws_url, additional_headers=bearer(token), origin=Origin("http://evil.example")
        ):
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
        assert hello["teams"] == [team0] and hello["tiers"] == [2, 3]
        await record(dsn, crisis(patients[1].patient_id, 1), crisis(patients[0].patient_id, 2))
        # a fence after both: the other team's events, had they leaked, would come before it
        async with AsyncConnectionPool(dsn, min_size=1, max_size=1, open=False) as pool:
            async with pool.connection() as conn:
                cur = await conn.execute(
                    "SELECT id FROM alerts WHERE patient_id = %s", (patients[0].patient_id,)
                )
                (alert_id,) = await cur.fetchone() or (None,)
            await write_fence(pool, [(str(alert_id), patients[0].patient_id)])
        got = await before_fence(ws)
    assert got and all(e["type"] == "alert_event" for e in got)
    assert {(e["patient_id"], e["tier"] >= 2) for e in got} == {(patients[0].patient_id, True)}
    assert "opened" in {e["kind"] for e in got}


async def test_ack_through_the_running_api(
    stack: Stack, dsn: str, settings: Settings, tag: str
) -> None:
    patients, _ = await enrol(settings, dsn, tag, patients=1)
    team0 = patients[0].team_id
    token = await token_for(dsn, f"doctor-{team0}")
    await record(dsn, crisis(patients[0].patient_id, 1))
    async with websockets.connect(stack.ws_url, additional_headers=bearer(token)) as ws:
        (opened, *_) = await events(ws, 1)
        await ws.send(json.dumps({"type": "ack", "alert_id": opened["alert_id"], "ref": 7}))
        reply = await _reply(ws)
        assert reply["type"] == "ack_result" and reply["ref"] == 7
        assert reply["alert"]["acknowledged_by"] == f"doctor-{team0}"
        while (event := (await events(ws, 1))[0])["kind"] != "acknowledged":
            pass
        assert event["alert_id"] == opened["alert_id"]


async def _reply(ws: ClientConnection) -> dict[str, Any]:
    while True:
        msg: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if msg["type"] != "alert_event":
            return msg
