"""Tier-1 delivery on real Mosquitto and PostgreSQL: outbox rows (written here as alerts.response
writes them) reach a subscriber authenticated as the patient's device, are marked sent, wait
for a device or a broker without being dropped, and keep their message id when redelivered."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import psycopg
import pytest
import pytest_asyncio
from paho.mqtt.enums import CallbackAPIVersion
from psycopg_pool import AsyncConnectionPool

from alerts.delivery import NO_BOUND_DEVICE, Backoff
from alerts.outbox import OutboxSender, Publish
from ingest.contract import messages_topic
from ingest.downlink import DownlinkError, MqttPublisher
from ingest.paho_asyncio import AsyncioPaho
from simulators.fleet import SimPatient, device_password
from tests.integration.conftest import eventually
from tests.integration.devices import bp_device, close_at_end, enrol
from tests.integration.stack import free_port
from vigil.settings import Settings

pytestmark = pytest.mark.asyncio


# --- helpers ----------------------------------------------------------------------------------


class DeviceInbox:
    """A device's own MQTT connection, subscribed to its `messages` topic; keeps what arrives."""

    def __init__(self, settings: Settings, device_id: str) -> None:
        self.device_id = device_id
        self.received: list[dict[str, Any]] = []
        self._settings = settings
        self._ready: asyncio.Future[None] | None = None
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=device_id, protocol=mqtt.MQTTv5)
        client.username_pw_set(
            device_id, device_password(settings.sim.secret.get_secret_value(), device_id)
        )
        client.on_connect = lambda c, *_: c.subscribe(messages_topic(device_id), qos=1)
        client.on_subscribe = lambda *_: self._ready and self._ready.set_result(None)
        client.on_message = lambda c, u, msg: self.received.append(orjson.loads(msg.payload))
        self._client = client

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        self._ready = loop.create_future()
        close_at_end(AsyncioPaho(self._client, loop).disconnect)
        self._client.connect(
            self._settings.mqtt.host, self._settings.mqtt.port, 30, clean_start=True
        )
        await asyncio.wait_for(self._ready, 10)

    def disconnect(self) -> None:
        self._client.disconnect()

    async def has(self, n: int, timeout_s: float = 10.0) -> bool:
        """Whether `n` messages have arrived within `timeout_s`."""

        async def enough() -> bool:
            return len(self.received) >= n

        return bool(await eventually(enough, timeout_s=timeout_s))


@contextlib.asynccontextmanager
async def inboxes(settings: Settings, *device_ids: str) -> AsyncIterator[list[DeviceInbox]]:
    boxes = [DeviceInbox(settings, d) for d in device_ids]
    for box in boxes:
        await box.connect()
    try:
        yield boxes
    finally:
        for box in boxes:
            box.disconnect()


def publisher(settings: Settings, tag: str, **change: Any) -> MqttPublisher:
    m = settings.mqtt
    args: dict[str, Any] = {
        "host": m.host, "port": m.port, "username": m.username,
        "password": m.password.get_secret_value(), "client_id": f"{tag}-downlink-{uuid.uuid4().hex[:6]}",
        "connect_timeout_s": 3.0,
    }  # fmt: skip
    return MqttPublisher(**{**args, **change})


@dataclass
class Switch:
    """A publisher port the test can re-point (a broker outage that ends)."""

    target: Publish

    async def __call__(self, topic: str, payload: bytes) -> None:
        await self.target(topic, payload)


@dataclass
class LosesFirstPubacks:
    """Publishes for real, but reports the first `n` publishes as failed: a PUBACK lost on the
    way back, as after a dropped connection. The broker has delivered them all the same."""

    target: Publish
    n: int
    calls: list[str] = field(default_factory=list)

    async def __call__(self, topic: str, payload: bytes) -> None:
        await self.target(topic, payload)
        self.calls.append(topic)
        if len(self.calls) <= self.n:
            raise DownlinkError("connection lost before the PUBACK (simulated)")


@dataclass
class RefusesTopics:
    """Fails every publish to some topics (a poison message), passes the rest on."""

    target: Publish
    refused: set[str]

    async def __call__(self, topic: str, payload: bytes) -> None:
        if topic in self.refused:
            raise DownlinkError(f"broker refused the publish to {topic}")
        await self.target(topic, payload)


@pytest_asyncio.fixture
async def pool(dsn: str) -> AsyncIterator[AsyncConnectionPool]:
    async with AsyncConnectionPool(dsn, min_size=1, max_size=4, open=False) as p:
        yield p


@contextlib.asynccontextmanager
async def running(sender: OutboxSender) -> AsyncIterator[OutboxSender]:
    task = asyncio.create_task(sender.run())
    try:
        yield sender
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task  # re-raises what stopped the sender, if anything did


def sender(pool: AsyncConnectionPool, dsn: str, publish: Publish, **kw: Any) -> OutboxSender:
    kw.setdefault("poll_s", 60.0)  # long: NOTIFY, not the poll, must drive delivery
    kw.setdefault("backoff", Backoff(base_s=0.2, max_s=1.0))
    return OutboxSender(pool, dsn, publish, clock=lambda: datetime.now(UTC), **kw)


async def write_message(
    aconn: psycopg.AsyncConnection[Any],
    patient_id: str,
    body: str = "Please measure again.",
    alert_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """As alerts.response does it: the row, then NOTIFY (delivered at commit)."""
    message_id = uuid.uuid4()
    async with aconn.transaction():
        await aconn.execute(
            "INSERT INTO patient_messages (id, alert_id, patient_id, template, lang, body)"
            " VALUES (%s, %s, %s, 'remeasure', 'en', %s)",
            (message_id, alert_id, patient_id, body),
        )
        await aconn.execute("NOTIFY vigil_outbox")
    return message_id


async def open_alert(
    aconn: psycopg.AsyncConnection[Any], patient_id: str, metric: str
) -> uuid.UUID:
    alert_id = uuid.uuid4()
    await aconn.execute(
        "INSERT INTO alerts (id, patient_id, rule_id, title, severity, status, metric, unit, worse,"
        " first_value, last_value, worst_value, opened_at, last_seen_at) VALUES (%s, %s, 'bp.high',"
        " 'High blood pressure', 'moderate', 'open', %s, 'mm[Hg]', 'higher', 152, 152, 152, now(),"
        " now())",
        (alert_id, patient_id, metric),
    )
    return alert_id


async def row(aconn: psycopg.AsyncConnection[Any], message_id: uuid.UUID) -> dict[str, Any]:
    cur = await aconn.execute(
        "SELECT sent_at, sent_to, attempts, last_error FROM patient_messages WHERE id = %s",
        (message_id,),
    )
    found = await cur.fetchone()
    assert found is not None
    return dict(zip(("sent_at", "sent_to", "attempts", "last_error"), found, strict=True))


async def sent(aconn: psycopg.AsyncConnection[Any], message_id: uuid.UUID) -> dict[str, Any] | None:
    r = await row(aconn, message_id)
    return r if r["sent_at"] is not None else None


async def patient_with_a_cuff_only(
    settings: Settings, dsn: str, aconn: psycopg.AsyncConnection[Any], tag: str
) -> tuple[list[SimPatient], str]:
    """One enrolled patient whose only bound device is the cuff: one publish, one delivery."""
    patients, _ = await enrol(settings, dsn, tag, patients=1)
    cuff = bp_device(patients)
    await aconn.execute(
        "UPDATE device_bindings SET valid_to = now() WHERE patient_id = %s AND device_id <> %s",
        (patients[0].patient_id, cuff),
    )
    return patients, cuff


def devices_of(patient: SimPatient) -> list[str]:
    return sorted(d.device_id for d in patient.devices)


# --- tests ------------------------------------------------------------------------------------


@pytest.mark.timeout(60)
async def test_a_message_reaches_every_bound_device_and_is_marked_sent(
    settings: Settings,
    dsn: str,
    aconn: psycopg.AsyncConnection[Any],
    pool: AsyncConnectionPool,
    tag: str,
) -> None:
    patients, _ = await enrol(settings, dsn, tag, patients=2)
    mqtt_out = publisher(settings, tag)
    watched = (*devices_of(patients[0]), bp_device(patients, 1))
    async with inboxes(settings, *watched) as boxes, running(sender(pool, dsn, mqtt_out)):
        alert_id = await open_alert(aconn, patients[0].patient_id, "systolic_bp")
        message_id = await write_message(
            aconn, patients[0].patient_id, "Rest, then measure.", alert_id
        )
        done = await eventually(lambda: sent(aconn, message_id), timeout_s=20)
        assert done is not None
        assert done["sent_to"] == devices_of(patients[0])
        assert (done["attempts"], done["last_error"]) == (1, None)

        for box in boxes[:-1]:
            assert await box.has(1)
    for box in boxes[:-1]:
        [doc] = box.received
        assert doc["message_id"] == str(message_id) and doc["text"] == "Rest, then measure."
        assert (doc["v"], doc["template"], doc["lang"]) == (1, "remeasure", "en")
        assert (doc["alert_id"], doc["metric"]) == (str(alert_id), "systolic_bp")
        assert datetime.fromisoformat(doc["sent_at"]) == done["sent_at"]
    assert boxes[-1].received == []  # another patient's device hears nothing
    await mqtt_out.close()


@pytest.mark.timeout(60)
async def test_a_patient_without_a_device_keeps_the_message_until_one_is_bound(
    settings: Settings,
    dsn: str,
    aconn: psycopg.AsyncConnection[Any],
    pool: AsyncConnectionPool,
    tag: str,
) -> None:
    patients, _ = await enrol(settings, dsn, tag, patients=1)
    patient, cuff = patients[0].patient_id, bp_device(patients)
    await aconn.execute(
        "UPDATE device_bindings SET valid_to = now() WHERE patient_id = %s", (patient,)
    )
    mqtt_out = publisher(settings, tag)
    # A long backoff: only the binding's NOTIFY can bring the message out within the test.
    out = sender(pool, dsn, mqtt_out, backoff=Backoff(base_s=120.0, max_s=120.0))
    async with inboxes(settings, cuff) as [box], running(out):
        message_id = await write_message(aconn, patient)

        async def waiting_for_a_device() -> bool:
            r = await row(aconn, message_id)
            return r["last_error"] == NO_BOUND_DEVICE

        assert await eventually(waiting_for_a_device, timeout_s=20)
        r = await row(aconn, message_id)
        assert (r["sent_at"], r["attempts"]) == (None, 0)
        assert box.received == []

        await aconn.execute(
            "INSERT INTO device_bindings (device_id, patient_id, valid_from, reason)"
            " VALUES (%s, %s, now(), 'rebound')",
            (cuff, patient),
        )
        done = await eventually(lambda: sent(aconn, message_id), timeout_s=20)
        assert done is not None and done["sent_to"] == [cuff]

        assert await box.has(1)
        assert box.received[0]["message_id"] == str(message_id)
    await mqtt_out.close()


@pytest.mark.timeout(90)
@pytest.mark.parametrize("outage", ["wrong_port", "wrong_password"])
async def test_a_broker_outage_counts_attempts_and_delivers_once_it_ends(
    settings: Settings, dsn: str, aconn: psycopg.AsyncConnection[Any], pool: AsyncConnectionPool,
    tag: str, outage: str,
) -> None:  # fmt: skip
    patients, _ = await enrol(settings, dsn, tag, patients=1)
    cuff = bp_device(patients)
    broken = (
        publisher(settings, tag, port=free_port())
        if outage == "wrong_port"
        else publisher(settings, tag, password="not-the-password")
    )
    port = Switch(broken)
    async with inboxes(settings, cuff) as [box], running(sender(pool, dsn, port)):
        message_id = await write_message(aconn, patients[0].patient_id)

        async def retried() -> bool:
            r = await row(aconn, message_id)
            return r["attempts"] >= 2

        assert await eventually(retried, timeout_s=30)
        r = await row(aconn, message_id)
        assert r["sent_at"] is None and r["last_error"].startswith("DownlinkError")
        assert box.received == []

        port.target = working = publisher(settings, tag)
        done = await eventually(lambda: sent(aconn, message_id), timeout_s=20)
        assert done is not None and done["last_error"] is None
        assert done["attempts"] >= 3  # the failed ones and the one that worked

        assert await box.has(1)
        assert [d["message_id"] for d in box.received] == [str(message_id)]
    await working.close()


@pytest.mark.timeout(60)
async def test_a_redelivery_carries_the_same_message_id(
    settings: Settings,
    dsn: str,
    aconn: psycopg.AsyncConnection[Any],
    pool: AsyncConnectionPool,
    tag: str,
) -> None:
    patients, cuff = await patient_with_a_cuff_only(settings, dsn, aconn, tag)
    mqtt_out = publisher(settings, tag)
    flaky = LosesFirstPubacks(mqtt_out, n=1)
    async with inboxes(settings, cuff) as [box], running(sender(pool, dsn, flaky)):
        message_id = await write_message(aconn, patients[0].patient_id)
        done = await eventually(lambda: sent(aconn, message_id), timeout_s=20)
        assert done is not None and done["attempts"] == 2

        assert await box.has(2)
    first, again = box.received
    assert first["message_id"] == again["message_id"] == str(message_id)
    assert first["text"] == again["text"]
    await mqtt_out.close()


@pytest.mark.timeout(60)
async def test_a_message_that_keeps_failing_does_not_hold_up_the_others(
    settings: Settings,
    dsn: str,
    aconn: psycopg.AsyncConnection[Any],
    pool: AsyncConnectionPool,
    tag: str,
) -> None:
    patients, _ = await enrol(settings, dsn, tag, patients=2)
    poisoned = {messages_topic(d) for d in devices_of(patients[0])}
    mqtt_out = publisher(settings, tag)
    out = sender(pool, dsn, RefusesTopics(mqtt_out, poisoned), batch_max=1)
    async with inboxes(settings, bp_device(patients, 1)) as [box], running(out):
        stuck = await write_message(aconn, patients[0].patient_id)  # the oldest: claimed first
        later = [await write_message(aconn, patients[1].patient_id, f"n{i}") for i in range(3)]
        for message_id in later:
            assert await eventually(lambda m=message_id: sent(aconn, m), timeout_s=20)
        r = await row(aconn, stuck)
        assert r["sent_at"] is None and r["attempts"] >= 1
        assert "refused" in r["last_error"]

        assert await box.has(3)
    await mqtt_out.close()


@pytest.mark.timeout(60)
async def test_two_senders_share_the_outbox_without_sending_twice(
    settings: Settings,
    dsn: str,
    aconn: psycopg.AsyncConnection[Any],
    pool: AsyncConnectionPool,
    tag: str,
) -> None:
    patients, cuff = await patient_with_a_cuff_only(settings, dsn, aconn, tag)
    one, two = publisher(settings, tag), publisher(settings, tag)
    a, b = sender(pool, dsn, one, batch_max=3), sender(pool, dsn, two, batch_max=3)
    async with inboxes(settings, cuff) as [box], running(a), running(b):
        ids = [await write_message(aconn, patients[0].patient_id, f"n{i}") for i in range(20)]

        assert await box.has(20, timeout_s=30)
        for message_id in ids:
            assert await sent(aconn, message_id)
    assert sorted(d["message_id"] for d in box.received) == sorted(map(str, ids))
    assert a.sent + b.sent == 20
    await one.close()
    await two.close()


@pytest.mark.timeout(30)
async def test_the_publisher_reports_a_publish_the_broker_refuses(
    settings: Settings, tag: str
) -> None:
    """MQTT 5: the ACL's refusal comes back as a failed PUBACK, not a silent drop."""
    mqtt_out = publisher(settings, tag)
    with pytest.raises(DownlinkError, match=r"(?i)not authorized"):
        await mqtt_out(f"vigil/v1/devices/{tag}-x/readings", b"{}")  # svc-ingest may only read
    await mqtt_out(messages_topic(f"{tag}-x"), b"{}")  # allowed: returns on the PUBACK
    await mqtt_out.close()


@pytest.mark.timeout(30)
async def test_more_publishes_at_once_than_the_publisher_keeps_in_flight_all_go_out(
    settings: Settings, tag: str
) -> None:
    """An outbox round publishes up to 50 messages to every device of each patient at once;
    beyond paho's in-flight and queue bounds a publish failed with "Message queue full" (seen
    at a demo's start with messages waiting). The publisher now makes them wait their turn."""
    mqtt_out = publisher(settings, tag, max_inflight=2)
    topics = [messages_topic(f"{tag}-{i}") for i in range(12)]
    await asyncio.gather(*(mqtt_out(t, b"{}") for t in topics))
    await mqtt_out.close()
