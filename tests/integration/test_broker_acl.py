"""The broker's side of the device contract: authentication and per-device topic ACLs.

Counted in rows, not PUBACKs: what matters is that nothing a device publishes on another
device's topic is ever stored under that device.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ingest.contract import ack_topic, readings_topic
from ingest.paho_asyncio import AsyncioPaho
from simulators.device import DeviceError
from simulators.fleet import device_password
from tests.integration.conftest import eventually
from tests.integration.devices import bp_device, bp_payload, close_at_end, connect, enrol
from tests.integration.stack import running_stack
from vigil.settings import Settings

pytestmark = pytest.mark.asyncio

NOT_AUTHORIZED = 0x87


async def count(aconn: psycopg.AsyncConnection[Any], device_id: str) -> int:
    cur = await aconn.execute("SELECT count(*) FROM readings WHERE device_id = %s", (device_id,))
    row = await cur.fetchone()
    return int(row[0]) if row else 0


@pytest.mark.timeout(90)
async def test_a_device_cannot_publish_on_another_devices_topic(
    settings: Settings, dsn: str, aconn: psycopg.AsyncConnection[Any], tag: str, tmp_path: Path
) -> None:
    patients, _ = await enrol(settings, dsn, tag, patients=2)
    mallory, victim = bp_device(patients, 0), bp_device(patients, 1)
    async with running_stack(settings, dsn, tag, "embedded", tmp_path):
        m = await connect(settings, mallory)
        # A well-formed payload claiming to be the victim, on the victim's topic: the broker
        # refuses it (MQTT 5 reason "not authorized") and it never reaches the ingest.
        spoof = await m.publish_raw(readings_topic(victim), bp_payload(victim, 1, 199.0, 121.0))
        assert spoof.value == NOT_AUTHORIZED
        # Then a normal reading of mallory's own, as a marker that the ingest has caught up.
        ok = await m.publish_raw(readings_topic(mallory), bp_payload(mallory, 1, 120.0))
        assert not ok.is_failure

        async def marker_stored() -> bool:
            return await count(aconn, mallory) == 3

        assert await eventually(marker_stored)
        assert await count(aconn, victim) == 0
        cur = await aconn.execute(
            "SELECT count(*) FROM rejected_readings WHERE device_id = %s", (victim,)
        )
        assert await cur.fetchone() == (0,)
        m.disconnect()


async def test_a_device_cannot_read_another_devices_acks(
    settings: Settings, dsn: str, tag: str
) -> None:
    """Mosquitto grants the subscription but never delivers what the ACL forbids. A marker
    on mallory's own ack topic, published after the forbidden message by the same client, shows
    mallory was listening: the forbidden message would have come before it."""
    patients, _ = await enrol(settings, dsn, tag, patients=2)
    mallory = await connect(settings, bp_device(patients, 0))
    victim = await connect(settings, bp_device(patients, 1))
    seen: dict[str, list[bytes]] = {"mallory": [], "victim": [], "marker": []}
    mallory._client.message_callback_add(
        ack_topic(mallory.device_id), lambda c, u, msg: seen["marker"].append(msg.payload)
    )
    mallory._client.message_callback_add(
        ack_topic(victim.device_id), lambda c, u, msg: seen["mallory"].append(msg.payload)
    )
    victim._client.message_callback_add(
        ack_topic(victim.device_id), lambda c, u, msg: seen["victim"].append(msg.payload)
    )
    granted = asyncio.Event()
    mallory._client.on_subscribe = lambda *args: granted.set()
    mallory._client.subscribe(ack_topic(victim.device_id), qos=1)
    await asyncio.wait_for(granted.wait(), 10)  # mosquitto grants it; the ACL filters delivery

    ingest = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    ingest.username_pw_set(settings.mqtt.username, settings.mqtt.password.get_secret_value())
    ingest.connect(settings.mqtt.host, settings.mqtt.port)
    ingest.loop_start()
    try:
        for topic, payload in ((ack_topic(victim.device_id), b'{"acked_seq": 41}'),
                               (ack_topic(mallory.device_id), b'{"acked_seq": 0}')):  # fmt: skip
            ingest.publish(topic, payload, qos=1).wait_for_publish(10)

        async def both_got_theirs() -> bool:
            return b'{"acked_seq": 41}' in seen["victim"] and bool(seen["marker"])

        assert await eventually(both_got_theirs, timeout_s=10)
        assert seen["mallory"] == []
    finally:
        ingest.disconnect()  # before loop_stop: the network thread sends it and closes the socket
        ingest.loop_stop()
        mallory.disconnect()
        victim.disconnect()


async def test_wrong_or_missing_credentials_are_refused(
    settings: Settings, dsn: str, tag: str
) -> None:
    patients, _ = await enrol(settings, dsn, tag, patients=1)
    device = bp_device(patients)
    with pytest.raises(DeviceError, match="refused"):
        await connect(settings, device, password="guess")
    with pytest.raises(DeviceError, match="refused"):
        await connect(settings, device, password=device_password("another-secret", device))
    with pytest.raises(DeviceError, match="refused"):
        await connect(settings, f"{tag}-not-enrolled", password="x")

    # on the loop, not a network thread: a thread would reconnect after the refusal, and could
    # leave a socket open behind loop_stop()
    anonymous = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    close_at_end(AsyncioPaho(anonymous, asyncio.get_running_loop()).disconnect)
    result: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    anonymous.on_connect = lambda c, u, f, reason, p: result.set_result(reason)
    anonymous.connect(settings.mqtt.host, settings.mqtt.port)
    assert (await asyncio.wait_for(result, 10)).is_failure
