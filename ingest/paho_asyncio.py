"""Run paho clients on an asyncio event loop instead of a network thread each.

paho exposes socket callbacks for exactly this (the approach of aiomqtt): the loop watches the
client's socket and calls `loop_read` / `loop_write` when it is ready, and a small task calls
`loop_misc` every second for keepalives and retries. paho's callbacks then run on the loop's
thread, between other tasks, so they must stay tiny: convert and hand over, nothing more.

Used by the ingest (one connection; no thread means no GIL hand-offs and no wake-up pipe per
PUBACK, which measurably raises throughput) and by the simulator (hundreds of device
connections in one process). Connecting is blocking for at most paho's connect timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt

_PACKETS_PER_CALLBACK = 256  # then let other tasks run, and come back for the rest


def no_delay(sock: Any) -> None:
    """Send each packet at once (TCP_NODELAY): paho leaves Nagle's algorithm on, so a small
    packet written while an earlier one is unacknowledged waits for the peer's delayed ACK (up
    to 40 ms on Linux): that was the p99 of the MQTT hop. A socket that is not TCP is left as
    it is."""
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class AsyncioPaho:
    def __init__(self, client: mqtt.Client, loop: asyncio.AbstractEventLoop) -> None:
        self._client = client
        self._loop = loop
        self._misc: asyncio.Task[None] | None = None
        self._closed = asyncio.Event()
        client.on_socket_open = self._on_open
        client.on_socket_close = self._on_close
        client.on_socket_register_write = self._on_register_write
        client.on_socket_unregister_write = self._on_unregister_write

    async def disconnect(self, timeout_s: float = 5.0) -> None:
        """Send DISCONNECT and wait until paho has closed the socket. paho closes it only once
        the loop has written the DISCONNECT: whoever returns (or closes the loop) before that
        leaks the socket, and its garbage collection warns somewhere else later."""
        if self._client.socket() is None:
            return
        self._client.disconnect()
        await asyncio.wait_for(self._closed.wait(), timeout_s)

    def _on_open(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self._closed.clear()
        no_delay(sock)
        buffered = getattr(client, "buffered", None)
        if buffered is None:
            self._loop.add_reader(sock, client.loop_read)
        else:
            self._loop.add_reader(sock, self._read_buffered, buffered)
        self._misc = self._loop.create_task(self._misc_loop())

    def _read_buffered(self, buffered: Callable[[], int]) -> None:
        """For a client that reads the socket ahead into a buffer (`paho_lean.LeanSubscriber`):
        the socket may be drained while whole packets still wait in the buffer, and the loop
        would not call again for them, so read them now, a bounded number at a time."""
        client = self._client
        client.loop_read()
        for _ in range(_PACKETS_PER_CALLBACK):
            if not buffered():
                return
            client.loop_read()
        if buffered():
            self._loop.call_soon(self._read_buffered, buffered)

    def _on_close(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self._loop.remove_reader(sock)
        self._loop.remove_writer(sock)
        if self._misc is not None:
            self._misc.cancel()
        self._closed.set()

    def _on_register_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self._loop.add_writer(sock, client.loop_write)

    def _on_unregister_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self._loop.remove_writer(sock)

    async def _misc_loop(self) -> None:
        # Keepalive pings and retries are due on a clock, not on an event: poll once a second.
        with contextlib.suppress(asyncio.CancelledError):
            while self._client.loop_misc() == mqtt.MQTT_ERR_SUCCESS:  # noqa: ASYNC110
                await asyncio.sleep(1)
