"""paho-mqtt adapter: a QoS 1 subscriber with a persistent session and manual acknowledgement.

paho runs on the asyncio loop (`paho_asyncio.AsyncioPaho`), not on a thread of its own, as a
`paho_lean.LeanSubscriber` (socket reads buffered, PUBLISH parsed without paho's per-message
overhead). Its callbacks are tiny (CONVENTIONS 3): turn the message into our `RawMessage`
(with its receive time), append it to a deque and wake the batch consumer. Nothing is decoded,
written or published inside a callback. An exception in a callback is stored and re-raised by
`batches()` on the main task, so the process fails loudly instead of going deaf.

The ingest speaks MQTT 3.1.1 with a persistent session (clean session off): MQTT 5 would make
paho parse a properties block on every message, a fifth of the ingest's CPU (measured), and the
ingest needs none of what 5 adds. Devices use MQTT 5 (reason codes on refusal). The broker's
`max_inflight_messages` bounds what is unacknowledged, its `persistent_client_expiration` how
long a stopped ingest's queue is kept.

PUBACKs are sent only when the caller says the batch is durable (`ack`). The broker keeps at
most that many unacknowledged messages in flight to us, which bounds memory and gives
backpressure. Acks are tagged with the connection that delivered the message: after a
reconnect the broker redelivers what was not acknowledged, and a stale ack is dropped. The
receiver reconnects by itself, with backoff, until `stop()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections import deque
from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from ingest.contract import READINGS_FILTER
from ingest.paho_asyncio import AsyncioPaho
from ingest.paho_lean import LeanSubscriber
from ingest.ports import RawMessage

log = logging.getLogger(__name__)

MAX_RECONNECT_DELAY_S = 30.0


class MqttError(RuntimeError):
    """The MQTT connection failed in a way the process should not paper over (fatal)."""


class MqttReceiver:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str,
        password: str,
        client_id: str,
        keepalive_s: int = 30,
        topic_filter: str = READINGS_FILTER,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._address = (host, port, keepalive_s)
        self._transport = "plain TCP" if tls is None else "TLS"
        self._topic_filter = topic_filter
        self._pending: deque[RawMessage] = deque()
        self._error: BaseException | None = None
        self._connection = 0
        self._wakeup = asyncio.Event()  # messages (or an error) are waiting
        self._subscribed = asyncio.Event()
        self._disconnected = asyncio.Event()
        self._stopping = False
        self._supervisor: asyncio.Task[None] | None = None
        self.sessions_lost = 0  # reconnects on which the broker had no session for us
        client = LeanSubscriber(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
            manual_ack=True,
        )
        client.username_pw_set(username, password)
        if tls is not None:
            client.tls_set_context(tls)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish_received = self._on_publish
        client.on_subscribe = self._on_subscribe
        client.max_queued_messages_set(0)
        self._client = client

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self, timeout_s: float = 30.0) -> None:
        """Connect with the persistent session and wait until the subscription is granted."""
        AsyncioPaho(self._client, asyncio.get_running_loop())
        host, port, keepalive = self._address
        try:
            self._client.connect(host, port, keepalive)
            await asyncio.wait_for(self._subscribed.wait(), timeout_s)
        except (OSError, TimeoutError) as exc:
            raise MqttError(f"no subscription on {host}:{port}: {exc!r}") from exc
        self._raise_stored_error()
        self._supervisor = asyncio.create_task(self._stay_connected(), name="mqtt-reconnect")

    async def stop(self) -> None:
        self._stopping = True
        if self._supervisor is not None:
            self._supervisor.cancel()
        if self._client.is_connected():
            self._client.disconnect()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._disconnected.wait(), 5)

    async def _stay_connected(self) -> None:
        """Reconnect after an unexpected disconnect, with exponential backoff."""
        delay = 0.5
        while not self._stopping:
            await self._disconnected.wait()
            await asyncio.sleep(delay)
            self._disconnected.clear()
            try:
                self._client.reconnect()
                delay = 0.5
            except Exception as exc:  # keep trying whatever it was: a deaf ingest is the worst case
                log.error(
                    "mqtt reconnect failed (%s); retrying in %.1f s", type(exc).__name__, delay
                )
                self._disconnected.set()
                delay = min(delay * 2, MAX_RECONNECT_DELAY_S)

    async def batches(self, max_messages: int, linger_s: float) -> AsyncIterator[list[RawMessage]]:
        """Yield batches of received messages; waits up to `linger_s` to fill a batch."""
        wake = self._wakeup
        pending = self._pending
        while True:
            await wake.wait()
            wake.clear()
            self._raise_stored_error()
            if linger_s > 0 and len(pending) < max_messages:
                await asyncio.sleep(linger_s)
            batch: list[RawMessage] = []
            while pending and len(batch) < max_messages:
                batch.append(pending.popleft())
            if pending:
                wake.set()
            if batch:
                yield batch

    def ack(self, messages: Iterable[RawMessage]) -> int:
        """Send PUBACKs for messages delivered on the current connection; return how many."""
        current = self._connection
        ack = self._client.ack
        sent = 0
        for m in messages:
            if m.connection == current and m.qos > 0:
                ack(m.mid, m.qos)
                sent += 1
        return sent

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Publish at QoS 1 (device acks, patient messages); paho queues it while offline."""
        info = self._client.publish(topic, payload, qos=1, retain=retain)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            raise MqttError(f"publish to {topic} failed: {mqtt.error_string(info.rc)}")

    @property
    def connected(self) -> bool:
        return self._client.is_connected()

    @property
    def backlog(self) -> int:
        return len(self._pending)

    # --- paho callbacks: run on the loop, must stay tiny --------------------------------------

    def _on_publish(
        self, topic: str, payload: bytes, mid: int, qos: int, received_at: datetime
    ) -> None:
        try:
            self._pending.append(
                RawMessage(topic, payload, received_at, mid, qos, self._connection)
            )
            self._wakeup.set()
        except BaseException as exc:  # stored, re-raised on the main task
            self._fail(exc)

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            self._fail(MqttError(f"broker refused the connection: {reason}"))
            return
        self._connection += 1
        if self._connection > 1 and not flags.session_present:
            # The broker forgot our session: what it had queued for us while we were away is gone.
            self.sessions_lost += 1
            log.error("mqtt session was not resumed: readings queued at the broker may be lost")
        log.info("mqtt connected over %s (session present: %s)", self._transport,
                 flags.session_present)  # fmt: skip
        client.subscribe(self._topic_filter, qos=1)

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reasons: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        if any(r.is_failure for r in reasons):
            self._fail(MqttError(f"subscription to {self._topic_filter} refused: {reasons}"))
            return
        self._subscribed.set()

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if not self._stopping:
            log.warning(
                "mqtt disconnected (%s); unacknowledged messages will be redelivered", reason
            )
        self._disconnected.set()

    def _fail(self, exc: BaseException) -> None:
        if self._error is None:
            self._error = exc
        self._wakeup.set()
        self._subscribed.set()

    def _raise_stored_error(self) -> None:
        if self._error is not None:
            raise MqttError("MQTT adapter failed") from self._error


async def retained_acks(
    *,
    host: str,
    port: int,
    username: str,
    password: str,
    quiet_s: float = 1.0,
    tls: ssl.SSLContext | None = None,
) -> dict[str, int]:
    """The acked seq each device was last told, read back from the retained ack messages:
    subscribe, take what the broker delivers, stop once it has been quiet for `quiet_s`."""
    from ingest.contract.topics import PREFIX

    acks: dict[str, int] = {}
    arrived = asyncio.Event()

    def on_message(client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        arrived.set()
        device_id = msg.topic[len(PREFIX) : -len("/ack")]
        with contextlib.suppress(ValueError, KeyError, TypeError):
            acks[device_id] = int(orjson.loads(msg.payload)["acked_seq"])

    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.username_pw_set(username, password)
    if tls is not None:
        client.tls_set_context(tls)
    client.on_message = on_message
    client.on_subscribe = lambda *args: arrived.set()
    AsyncioPaho(client, asyncio.get_running_loop())
    client.connect(host, port, keepalive=30, clean_start=True)
    client.subscribe(PREFIX + "+/ack", qos=1)
    try:
        async with asyncio.timeout(60):
            await arrived.wait()  # the SUBACK (or a first message)
        while True:
            arrived.clear()
            try:
                await asyncio.wait_for(arrived.wait(), quiet_s)
            except TimeoutError:
                break
    finally:
        client.disconnect()
    return acks
