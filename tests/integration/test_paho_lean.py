"""`ingest.paho_lean.LeanSubscriber` against stock paho, on the real broker.

The lean client overrides two of paho's private methods (buffered socket reads, a direct
PUBLISH parser). These tests are what a paho upgrade must pass: the same messages published
once reach a stock paho subscriber and the lean one identically (topics, payloads of every
size including ones spanning several 64 KiB reads, QoS 0 and 1, packet ids that ack), and the
lean client's own PUBACKs settle the broker's session.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from datetime import datetime

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ingest.contract import readings_topic
from ingest.paho_asyncio import AsyncioPaho
from ingest.paho_lean import READ_CHUNK, LeanSubscriber
from simulators.fleet import device_password
from tests.integration.devices import bp_device, close_at_end, enrol
from vigil.settings import Settings

pytestmark = pytest.mark.timeout(60)

Received = tuple[str, bytes, int]  # topic, payload, qos

PAYLOAD_SIZES = [0, 1, 127, 128, 16_383, 16_384, READ_CHUNK - 1, READ_CHUNK + 1, 200_000]


def payloads() -> list[tuple[bytes, int]]:
    """(payload, qos): sizes around the remaining-length byte boundaries and the read chunk,
    bytes that look like MQTT headers, both QoS levels."""
    out = [(os.urandom(n), 1) for n in PAYLOAD_SIZES]
    out += [(bytes([0x30, 0x7F, 0x00]) * 10, 0), ("température °C".encode(), 0)]
    out += [(f"reading {i}".encode(), i % 2) for i in range(500)]
    return out


async def subscriber(
    settings: Settings, client: mqtt.Client, topic: str, tls: bool = False
) -> mqtt.Client:
    """`client` subscribed to `topic` as the ingest's account; with `tls`, on the broker's TLS
    listener (what the services use with mqtt.service_tls)."""
    subscribed = asyncio.Event()
    client.username_pw_set(settings.mqtt.username, settings.mqtt.password.get_secret_value())
    client.on_subscribe = lambda *args: subscribed.set()
    client.on_connect = lambda c, *args: c.subscribe(topic, qos=1)
    close_at_end(AsyncioPaho(client, asyncio.get_running_loop()).disconnect)
    m = settings.model_copy(update={"mqtt": settings.mqtt.model_copy(update={"service_tls": tls})})
    host, port, context = m.mqtt.service_endpoint()
    if context is not None:
        client.tls_set_context(context)
    client.connect(host, port, 30)
    await asyncio.wait_for(subscribed.wait(), 10)
    return client


def stock(got: list[Received]) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    c.on_message = lambda client, userdata, m: got.append((m.topic, bytes(m.payload), m.qos))
    return c


def lean(
    got: list[Received], *, manual_ack: bool, client_id: str = "", v5: bool = False
) -> LeanSubscriber:
    c = LeanSubscriber(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=None if v5 else not client_id,
        protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
        manual_ack=manual_ack,
    )

    def on_publish(topic: str, payload: bytes, mid: int, qos: int, at: datetime) -> None:
        assert at.tzinfo is not None and (qos == 0) == (mid == 0)
        got.append((topic, payload, qos))
        if manual_ack and qos:
            c.ack(mid, qos)

    c.on_publish_received = on_publish
    return c


async def publish_all(settings: Settings, device: str, messages: list[tuple[bytes, int]]) -> None:
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=device, protocol=mqtt.MQTTv5)
    pub.username_pw_set(device, device_password(settings.sim.secret.get_secret_value(), device))
    pub.max_inflight_messages_set(1000)
    close_at_end(AsyncioPaho(pub, asyncio.get_running_loop()).disconnect)
    pub.connect(settings.mqtt.host, settings.mqtt.port, 30)
    infos = [pub.publish(readings_topic(device), p, qos=q) for p, q in messages]
    async with asyncio.timeout(30):
        while not all(i.is_published() for i in infos):  # noqa: ASYNC110 - paho's own state
            await asyncio.sleep(0.01)
    pub.disconnect()


async def until(check: Callable[[], bool]) -> None:
    async with asyncio.timeout(20):
        while not check():  # noqa: ASYNC110 - a condition on callbacks' lists
            await asyncio.sleep(0.02)


async def leave_settled(client: mqtt.Client, topic: str) -> None:
    """Disconnect once the broker has processed the client's PUBACKs. It handles one
    connection's packets in order, so a SUBSCRIBE sent after them and answered means they are
    done; a DISCONNECT straight after them is not enough (seen: mosquitto then redelivered the
    last acknowledged messages in half the runs). Then wait until the DISCONNECT is written,
    so the next connection with this client id does not race this one."""
    answered, gone = asyncio.Event(), asyncio.Event()
    client.on_subscribe = lambda *args: answered.set()
    client.on_disconnect = lambda *args: gone.set()
    client.subscribe(topic, qos=1)
    await asyncio.wait_for(answered.wait(), 10)
    client.disconnect()
    await asyncio.wait_for(gone.wait(), 10)


MARKER = (b"marker: everything published before it has been delivered", 1)


def has_marker(got: list[Received]) -> bool:
    """The broker delivers one publisher's messages on a topic in order: once the marker,
    published last, is here, anything published before it that was going to come has come."""
    return any(payload == MARKER[0] for _, payload, _ in got)


@pytest.mark.asyncio
@pytest.mark.parametrize("v5", [False, True], ids=["mqtt-3.1.1-parsed", "mqtt-5-through-paho"])
@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
async def test_the_lean_client_receives_what_stock_paho_receives(
    settings: Settings, dsn: str, tag: str, v5: bool, tls: bool
) -> None:
    """Over TLS too: TLS hands the socket's bytes over record by record, and what it has
    decrypted but not yet given out no longer shows as the socket being readable."""
    patients, _ = await enrol(settings, dsn, tag, patients=1)
    device = bp_device(patients)
    messages = payloads()
    seen_by_stock: list[Received] = []
    seen_by_lean: list[Received] = []
    clients = [
        await subscriber(settings, stock(seen_by_stock), readings_topic(device), tls),
        await subscriber(
            settings, lean(seen_by_lean, manual_ack=True, v5=v5), readings_topic(device), tls
        ),
    ]
    try:
        await publish_all(settings, device, [*messages, MARKER])
        await until(lambda: has_marker(seen_by_lean) and has_marker(seen_by_stock))
        assert seen_by_lean == seen_by_stock
        assert sorted(p for _, p, _ in seen_by_lean) == sorted(p for p, _ in [*messages, MARKER])
        assert {t for t, _, _ in seen_by_lean} == {readings_topic(device)}
    finally:
        for c in clients:
            c.disconnect()


@pytest.mark.asyncio
@pytest.mark.parametrize("manual_ack", [False, True], ids=["auto-ack", "manual-ack"])
async def test_acknowledged_messages_are_not_redelivered(
    settings: Settings, dsn: str, tag: str, manual_ack: bool
) -> None:
    """With a persistent session, the broker redelivers whatever was not PUBACKed when the
    client comes back: nothing, if the lean client acknowledged (by itself or manually).
    A marker published after the reconnection shows the client was listening, and any
    redelivery would have come before it."""
    patients, _ = await enrol(settings, dsn, tag, patients=1)
    device = bp_device(patients)
    topic, client_id = readings_topic(device), f"{tag}-lean-{manual_ack}"
    first: list[Received] = []
    c = await subscriber(settings, lean(first, manual_ack=manual_ack, client_id=client_id), topic)
    await publish_all(settings, device, [(f"m{i}".encode(), 1) for i in range(300)])
    await until(lambda: len(first) == 300)
    await leave_settled(c, topic)
    again: list[Received] = []
    c = await subscriber(settings, lean(again, manual_ack=manual_ack, client_id=client_id), topic)
    try:
        await publish_all(settings, device, [MARKER])
        await until(lambda: has_marker(again))
    finally:
        c.disconnect()
    assert again == [(topic, MARKER[0], 1)]


def test_per_topic_callbacks_are_refused() -> None:
    c = LeanSubscriber(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    with pytest.raises(NotImplementedError):
        c.message_callback_add("vigil/#", lambda *args: None)
