"""One simulated device's MQTT connection, behaving like a careful real device.

- Connects with its own credentials (username = device id), MQTT v5, persistent session;
  `connect` returns once its ack and messages subscriptions are acknowledged (SUBACK), so a
  connected device hears every message published to it from then on.
- Publishes readings at QoS 1 and checks every paho return code and PUBACK reason code (a
  broker refusal, e.g. "not authorized", is counted, not ignored).
- Bounds what is unacknowledged: at most `max_inflight` publishes await a PUBACK; further
  readings wait in the device's buffer, as on a device that is offline or throttled.
- Keeps every reading until the ingest acknowledges it end to end on the device's ack topic
  (highest contiguous seq stored), and publishes it again if no ack came within `resend_after_s`.
  A PUBACK is not that ack: a broker acknowledges on receipt and can lose what it acknowledged
  when it crashes (docs/device-contract.md).
- Reconnects by itself when the connection drops (broker restart or crash, network), with
  backoff, keeps its buffer meanwhile, and on every reconnection publishes again everything
  not yet acknowledged end to end (the broker may have lost it).
- Receives the patient's tier-1 messages on its `messages` topic, shows each once (they come at
  least once; simulators.inbox deduplicates) and hands a new one to `on_message` (the runner
  schedules a re-measurement when prompted).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from ingest.contract import ack_topic, messages_topic, readings_topic
from ingest.paho_asyncio import AsyncioPaho
from simulators.inbox import Inbox, PatientMessage, parse

log = logging.getLogger(__name__)

MAX_RECONNECT_DELAY_S = 30.0


@dataclass(slots=True)
class DeviceStats:
    """Totals across all simulated devices of a run."""

    published: int = 0
    pubacked: int = 0
    e2e_acked: int = 0
    rejected_by_ingest: Counter[str] = field(default_factory=Counter)  # reason -> count
    resent: int = 0
    buffered_peak: int = 0
    refused: Counter[str] = field(default_factory=Counter)  # PUBACK reason -> count
    errors: Counter[str] = field(default_factory=Counter)  # paho return code -> count
    messages: int = 0  # patient messages shown (each message id once)
    duplicate_messages: int = 0  # redeliveries of a message already shown
    remeasured: int = 0  # extra measurements taken because a message asked for one


class DeviceError(RuntimeError):
    """The device could not connect (wrong credentials, broker down): fatal for the run."""


class DeviceConnection:
    def __init__(
        self,
        device_id: str,
        password: str,
        host: str,
        port: int,
        stats: DeviceStats,
        *,
        max_inflight: int = 20,
        resend_after_s: float = 120.0,
    ) -> None:
        self.device_id = device_id
        self._address = (host, port)
        self._stats = stats
        self._max_inflight = max_inflight
        self._resend_after_s = resend_after_s
        self._inflight: dict[int, int] = {}  # paho mid -> seq
        self._waiting: deque[int] = deque()  # seqs not yet published (in-flight bound reached)
        self._unacked: dict[int, tuple[bytes, float]] = {}  # seq -> (payload, last publish time)
        self._acked_seq = -1
        self.broker_acked: set[int] = set()  # seqs the broker acknowledged at least once
        self.rejected: dict[int, str] = {}  # seq -> reason, as reported on the ack topic
        self._connected: asyncio.Future[ReasonCode] | None = None
        self._subscribed: asyncio.Future[None] | None = None
        self._puback_waiters: dict[int, asyncio.Future[ReasonCode]] = {}
        self._online = False  # paho's is_connected() stays True after a broker DISCONNECT
        self._closing = False
        self._offline = asyncio.Event()
        self._reconnector: asyncio.Task[None] | None = None
        self.reconnects = 0
        self.inbox = Inbox()
        self.on_message: Callable[[PatientMessage], None] | None = None
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=device_id, protocol=mqtt.MQTTv5)
        client.username_pw_set(device_id, password)
        client.on_connect = self._on_connect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.max_inflight_messages_set(max(max_inflight, 1))
        self._client = client
        self._io: AsyncioPaho | None = None

    async def connect(self, timeout_s: float = 10.0) -> None:
        loop = asyncio.get_running_loop()
        self._io = AsyncioPaho(self._client, loop)
        self._connected = loop.create_future()
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 3600
        host, port = self._address
        self._client.connect(host, port, keepalive=60, clean_start=False, properties=props)
        try:
            reason = await asyncio.wait_for(self._connected, timeout_s)
        except TimeoutError as exc:
            await self.close()
            raise DeviceError(f"{self.device_id}: no CONNACK within {timeout_s} s") from exc
        if reason.is_failure:
            await self.close()
            raise DeviceError(f"{self.device_id}: broker refused the connection: {reason}")
        self._subscribed = loop.create_future()
        self._subscribe()
        try:
            await asyncio.wait_for(self._subscribed, timeout_s)
        except TimeoutError as exc:
            raise DeviceError(f"{self.device_id}: no SUBACK within {timeout_s} s") from exc
        self._reconnector = loop.create_task(self._stay_connected(), name=f"{self.device_id}-up")

    def disconnect(self) -> None:
        """Start disconnecting; the socket closes once the loop has sent the DISCONNECT."""
        self._stop_reconnecting()
        self._client.disconnect()

    async def close(self) -> None:
        """Disconnect and wait until the socket is closed (nothing left for the collector)."""
        self._stop_reconnecting()
        if self._io is not None:
            await self._io.disconnect()

    def _stop_reconnecting(self) -> None:
        self._closing = True
        if self._reconnector is not None:
            self._reconnector.cancel()

    def _subscribe(self) -> None:
        self._client.subscribe(
            [(ack_topic(self.device_id), 1), (messages_topic(self.device_id), 1)]
        )

    async def _stay_connected(self) -> None:
        """Reconnect after the connection dropped, with exponential backoff; a refusal (e.g. a
        revoked credential) is retried like an outage, as a device in the field would."""
        delay = 0.5
        while not self._closing:
            await self._offline.wait()
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RECONNECT_DELAY_S)
            self._offline.clear()
            try:
                self._client.reconnect()
            except OSError:
                self._offline.set()
                continue
            self.reconnects += 1
            if self._online:
                delay = 0.5

    # --- readings ---------------------------------------------------------------------------

    def send(self, seq: int, payload: bytes) -> None:
        """Buffer the reading and publish it as soon as the in-flight bound allows."""
        self._unacked[seq] = (payload, 0.0)
        self._waiting.append(seq)
        self._pump()
        waiting = len(self._waiting)
        if waiting > self._stats.buffered_peak:
            self._stats.buffered_peak = waiting

    def resend_overdue(self, now: float) -> None:
        for seq, (_, sent_at) in list(self._unacked.items()):
            if sent_at and now - sent_at > self._resend_after_s and seq not in self._waiting:
                self._waiting.append(seq)
                self._stats.resent += 1
        self._pump()

    @property
    def connected(self) -> bool:
        return self._online

    @property
    def unacked(self) -> int:
        return len(self._unacked)

    @property
    def acked_seq(self) -> int:
        """The highest contiguous seq the ingest has acknowledged end to end (-1: none yet)."""
        return self._acked_seq

    def _pump(self) -> None:
        while self._online and self._waiting and len(self._inflight) < self._max_inflight:
            seq = self._waiting[0]
            entry = self._unacked.get(seq)
            if entry is None:  # acknowledged meanwhile
                self._waiting.popleft()
                continue
            info = self._client.publish(readings_topic(self.device_id), entry[0], qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                self._stats.errors[mqtt.error_string(info.rc)] += 1
                return  # stays waiting; retried on the next send, ack or resend tick
            self._waiting.popleft()
            self._inflight[info.mid] = seq
            self._unacked[seq] = (entry[0], time.monotonic())
            self._stats.published += 1

    # --- raw publishing, for tests ------------------------------------------------------------

    async def publish_raw(self, topic: str, payload: bytes, timeout_s: float = 10.0) -> ReasonCode:
        """Publish any bytes to any topic at QoS 1 and return the broker's PUBACK reason."""
        info = self._client.publish(topic, payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise DeviceError(f"publish failed: {mqtt.error_string(info.rc)}")
        waiter = asyncio.get_running_loop().create_future()
        self._puback_waiters[info.mid] = waiter
        return await asyncio.wait_for(waiter, timeout_s)

    # --- paho callbacks (run on the asyncio loop through AsyncioPaho) -------------------------

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any
    ) -> None:
        self._online = not reason.is_failure
        if self._connected is not None and not self._connected.done():
            self._connected.set_result(reason)
        elif self._online:
            self._subscribe()  # the broker may have lost the session with its subscriptions
            self._resend_unacked()
            self._pump()

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any
    ) -> None:
        self._online = False
        self._inflight.clear()  # their seqs stay in the buffer and go again on reconnection
        if not self._closing:
            self._offline.set()

    def _resend_unacked(self) -> None:
        """After a reconnection everything not acknowledged end to end goes again, in order."""
        waiting = set(self._waiting)
        again = [seq for seq in sorted(self._unacked) if seq not in waiting]
        self._waiting.extend(again)
        self._stats.resent += len(again)

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, props: Any
    ) -> None:
        if self._subscribed is not None and not self._subscribed.done():
            self._subscribed.set_result(None)

    def _on_publish(
        self, client: mqtt.Client, userdata: Any, mid: int, reason: ReasonCode, props: Any
    ) -> None:
        waiter = self._puback_waiters.pop(mid, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(reason)
        seq = self._inflight.pop(mid, None)
        if reason.is_failure:
            self._stats.refused[str(reason)] += 1
            if seq is not None:  # the broker will never take it: stop retrying
                self._unacked.pop(seq, None)
        else:
            self._stats.pubacked += 1
            if seq is not None:
                self.broker_acked.add(seq)
        self._pump()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.topic.endswith("/messages"):
            self._on_patient_message(msg.payload)
        else:
            self._on_ack(msg.payload)

    def _on_patient_message(self, data: bytes | bytearray) -> None:
        message = parse(data)
        if message is None:
            log.warning("%s: unreadable patient message", self.device_id)
            return
        if not self.inbox.receive(message):
            self._stats.duplicate_messages += 1
            return
        self._stats.messages += 1
        if self.on_message is not None:
            self.on_message(message)

    def _on_ack(self, data: bytes | bytearray) -> None:
        try:
            doc = orjson.loads(data)
            acked = int(doc["acked_seq"])
            refused = {int(r["seq"]): str(r["reason"]) for r in doc.get("rejected", ())}
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            log.warning("%s: unreadable ack", self.device_id)
            return
        for seq, reason in refused.items():
            if seq not in self.rejected:
                self.rejected[seq] = reason
                self._stats.rejected_by_ingest[reason] += 1
        if acked <= self._acked_seq:
            return
        self._acked_seq = acked
        for seq in [s for s in self._unacked if s <= acked]:
            del self._unacked[seq]
            self._stats.e2e_acked += 1
