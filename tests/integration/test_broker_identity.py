"""Identities that cannot be borrowed (issue 14, finding 2): a device login connecting with the
ingest's client id, or with another device's, is refused by the broker, and the client that
holds that id keeps its connection and its session. Counted in stored rows, not in log lines."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from ingest.contract import readings_topic
from ingest.paho_asyncio import AsyncioPaho
from simulators.fleet import device_password
from tests.integration.conftest import eventually
from tests.integration.devices import bp_device, bp_payload, close_at_end, connect, enrol
from tests.integration.stack import running_stack
from vigil.settings import Settings

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(120)]


async def connack(settings: Settings, username: str, password: str, client_id: str) -> ReasonCode:
    """The broker's answer to a device login with the given client id."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.username_pw_set(username, password)
    close_at_end(AsyncioPaho(client, asyncio.get_running_loop()).disconnect)
    answer: asyncio.Future[ReasonCode] = asyncio.get_running_loop().create_future()

    def on_connect(c: mqtt.Client, u: object, f: object, reason: ReasonCode, p: object) -> None:
        if not answer.done():
            answer.set_result(reason)

    client.on_connect = on_connect
    client.connect(settings.mqtt.host, settings.mqtt.port)
    return await asyncio.wait_for(answer, 10)


async def stored(aconn: psycopg.AsyncConnection[Any], device_id: str) -> int:
    cur = await aconn.execute("SELECT count(*) FROM readings WHERE device_id = %s", (device_id,))
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def test_a_device_cannot_take_the_ingests_client_id(
    settings: Settings, dsn: str, aconn: psycopg.AsyncConnection[Any], tag: str, tmp_path: Path
) -> None:
    patients, _ = await enrol(settings, dsn, tag, patients=1)
    device = bp_device(patients)
    password = device_password(settings.sim.secret.get_secret_value(), device)
    ingest_id = f"vigil-ingest-{tag}"
    async with running_stack(settings, dsn, tag, "embedded", tmp_path) as stack:
        d = await connect(settings, device)
        for seq in range(1, 4):
            assert not (
                await d.publish_raw(readings_topic(device), bp_payload(device, seq, 120))
            ).is_failure
        assert await eventually(lambda: _is(stored(aconn, device), 9))
        # The takeover: the device's own valid login, the ingest's client id.
        refused = await connack(settings, device, password, ingest_id)
        assert refused.is_failure and refused.getName() == "Not authorized"
        # The ingest kept its connection: what the device sends next is stored, and it never
        # logged a lost connection or session.
        for seq in range(4, 7):
            assert not (
                await d.publish_raw(readings_topic(device), bp_payload(device, seq, 121))
            ).is_failure
        assert await eventually(lambda: _is(stored(aconn, device), 18))
        assert "mqtt disconnected" not in stack.tail(400)


async def test_a_device_cannot_take_another_devices_client_id(
    settings: Settings, dsn: str, tag: str
) -> None:
    patients, _ = await enrol(settings, dsn, tag, patients=2)
    mallory, victim = bp_device(patients, 0), bp_device(patients, 1)
    secret = settings.sim.secret.get_secret_value()
    v = await connect(settings, victim)
    refused = await connack(settings, mallory, device_password(secret, mallory), victim)
    assert refused.is_failure
    # Its own id still works, and the victim was never disconnected: its next publish is
    # acknowledged on the same connection.
    own = await connack(settings, mallory, device_password(secret, mallory), mallory)
    assert not own.is_failure
    assert not (await v.publish_raw(readings_topic(victim), bp_payload(victim, 1, 120))).is_failure


async def _is(count: Any, expected: int) -> bool:
    return bool(await count == expected)
