"""MQTT downlink: publish bytes to a topic at QoS 1 and return once the broker acknowledged it.

`MqttPublisher` is an `async (topic, payload) -> None` callable for services that must know a
message reached the broker (the tier-1 outbox). It knows topics and bytes, nothing about what
they mean. It connects as a service account (`svc-ingest`, whose ACL may write every device's
`messages` topic) with its own client id and a clean session: it has nothing to resume, and an
abandoned session would only make the broker keep state for nobody.

MQTT 5, so that a publish the broker refuses (the ACL: reason 0x87 "not authorized") comes back
as a failed PUBACK instead of being dropped silently as MQTT 3.1.1 does.

The connection is made on first use and again after it is lost (at most one attempt per
`reconnect_after_s`); no task of its own keeps it up, the caller's retries do. paho runs on the
asyncio loop (ingest.paho_asyncio); its callbacks are tiny and go through
`loop.call_soon_threadsafe`, so they stay correct if paho is ever run on a network thread. A
waiter is resolved by the PUBACK of its message id; when the connection drops, every waiter on it
fails (the caller decides whether to retry: delivery is at least once).

Errors: `DownlinkError` (retriable): not connected, the broker refused the connection or the
publish, or the connection was lost before the PUBACK.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from ingest.paho_asyncio import AsyncioPaho

log = logging.getLogger(__name__)


class DownlinkError(ConnectionError):
    """The message was not acknowledged by the broker (retriable)."""


class _Connection:
    """One paho client and the PUBACKs it is waiting for; replaced when it drops."""

    def __init__(self, client: mqtt.Client, loop: asyncio.AbstractEventLoop) -> None:
        self.client = client
        self.loop = loop
        self.connack: asyncio.Future[ReasonCode] = loop.create_future()
        self.waiters: dict[int, asyncio.Future[ReasonCode]] = {}
        self.lost = False
        client.on_connect = self._on_connect
        client.on_publish = self._on_publish
        client.on_disconnect = self._on_disconnect
        AsyncioPaho(client, loop)

    # paho callbacks: hand over to the loop, nothing more

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any
    ) -> None:
        self.loop.call_soon_threadsafe(_settle, self.connack, reason)

    def _on_publish(
        self, client: mqtt.Client, userdata: Any, mid: int, reason: ReasonCode, props: Any
    ) -> None:
        self.loop.call_soon_threadsafe(self._acked, mid, reason)

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: Any,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self.loop.call_soon_threadsafe(self._dropped, reason)

    # on the loop

    def _acked(self, mid: int, reason: ReasonCode) -> None:
        waiter = self.waiters.pop(mid, None)
        if waiter is not None:
            _settle(waiter, reason)

    def _dropped(self, reason: ReasonCode) -> None:
        self.lost = True
        error = DownlinkError(f"connection lost before the PUBACK ({reason})")
        for waiter in [self.connack, *self.waiters.values()]:
            if not waiter.done():
                waiter.set_exception(error)
        self.waiters.clear()


def _settle(future: asyncio.Future[ReasonCode], reason: ReasonCode) -> None:
    if not future.done():
        future.set_result(reason)


class MqttPublisher:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str,
        password: str,
        client_id: str,
        keepalive_s: int = 30,
        connect_timeout_s: float = 10.0,
        max_inflight: int = 100,
        reconnect_after_s: float = 1.0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._address = (host, port, keepalive_s)
        self._tls = tls
        self._credentials = (username, password)
        self._client_id = client_id
        self._connect_timeout_s = connect_timeout_s
        self._max_inflight = max_inflight
        self._connection: _Connection | None = None
        self._connecting = asyncio.Lock()
        self._reconnect_after_s = reconnect_after_s
        self._failed_at = float("-inf")  # monotonic time of the last failed connection attempt
        self._failure = ""
        # paho refuses a publish beyond its in-flight window and queue ("Message queue full"):
        # callers beyond the window wait here for a PUBACK to free a place instead.
        self._slots = asyncio.Semaphore(max_inflight)

    async def __call__(self, topic: str, payload: bytes) -> None:
        """Publish at QoS 1; return when the broker has acknowledged it."""
        async with self._slots:
            await self._publish(topic, payload)

    async def _publish(self, topic: str, payload: bytes) -> None:
        conn = await self._connected()
        info = conn.client.publish(topic, payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise DownlinkError(f"publish to {topic} failed: {mqtt.error_string(info.rc)}")
        waiter = conn.loop.create_future()
        conn.waiters[info.mid] = waiter
        waiter.add_done_callback(lambda _: conn.waiters.pop(info.mid, None))
        reason = await waiter
        if reason.is_failure:
            raise DownlinkError(f"broker refused the publish to {topic}: {reason}")

    async def close(self) -> None:
        conn, self._connection = self._connection, None
        if conn is not None and not conn.lost:
            conn.client.disconnect()

    @property
    def connected(self) -> bool:
        return self._connection is not None and not self._connection.lost

    async def _connected(self) -> _Connection:
        async with self._connecting:
            if self._connection is None or self._connection.lost:
                self._connection = None
                # Publishes queued behind a failed attempt fail with it rather than each trying
                # again: an outage costs one connection attempt per `reconnect_after_s`.
                if time.monotonic() - self._failed_at < self._reconnect_after_s:
                    raise DownlinkError(f"broker unavailable: {self._failure}")
                try:
                    self._connection = await self._connect()
                except DownlinkError as exc:
                    self._failed_at, self._failure = time.monotonic(), str(exc)
                    raise
            return self._connection

    async def _connect(self) -> _Connection:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=self._client_id, protocol=mqtt.MQTTv5
        )
        client.username_pw_set(*self._credentials)
        if self._tls is not None:
            client.tls_set_context(self._tls)
        client.max_inflight_messages_set(self._max_inflight)
        client.max_queued_messages_set(self._max_inflight)
        conn = _Connection(client, asyncio.get_running_loop())
        host, port, keepalive = self._address
        try:
            client.connect(host, port, keepalive, clean_start=True)
            reason = await asyncio.wait_for(conn.connack, self._connect_timeout_s)
        except (OSError, TimeoutError, DownlinkError) as exc:
            _abandon(client)
            raise DownlinkError(f"no connection to {host}:{port}: {exc!r}") from exc
        if reason.is_failure:
            _abandon(client)
            raise DownlinkError(f"broker refused the connection: {reason}")
        log.info("downlink connected to %s:%d as %s", host, port, self._credentials[0])
        return conn


def _abandon(client: mqtt.Client) -> None:
    client.disconnect()  # release the socket, if any (returns an error code when there is none)
