"""A paho client tuned for one busy QoS 1 subscriber: the ingest's connection to the broker.

paho is general; the ingest receives tens of thousands of small PUBLISH packets a second on one
MQTT 3.1.1 connection, and `vigil bench ingest` showed where stock paho spends that time
(py-spy): a third of the ingest's CPU went to paho, mostly in three places this class avoids.

1. Reading. paho reads each packet with two or three `recv` calls (type byte, length bytes,
   body). Here the socket is read up to 64 KiB at a time and paho's small reads are served
   from that buffer: one system call per many packets instead of three per packet.
2. PUBLISH handling. For every message paho formats a debug log line, builds an `MQTTMessage`,
   matches the topic against per-topic callbacks and takes two locks. Here a QoS 0/1 PUBLISH
   on MQTT 3.1.1 is parsed directly (topic length, topic, packet id, payload) and handed to
   `on_publish_received(topic, payload, mid, qos, received_at)`; anything else (QoS 2,
   MQTT 5) goes through paho's own handling and reaches the same callback.
3. The receive time. Every message of one socket read arrived at the same moment, so the time
   is taken once per read, not once per message.

Manual acknowledgement stays paho's (`Client.ack`), as do connecting, keepalive, reconnects
and everything that is sent. The overridden methods (`_sock_recv`, `_handle_publish`) are not
paho's public API (pyproject.toml pins paho to 2.2.x): `tests/integration/test_paho_lean.py`
sends the same messages through this class and through stock paho and checks both see the same
thing, so a paho release that changes them fails there. `message_callback_add` is refused:
per-topic callbacks would be bypassed.

A topic that is not UTF-8 (the broker checks, so it should not happen) is passed on with
replacement characters: it then matches no device and is stored as a rejection, rather than
the connection being dropped and the same message redelivered for ever.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

READ_CHUNK = 65_536

# topic, payload, packet id, QoS, receive time
PublishCallback = Callable[[str, bytes, int, int, datetime], None]


class LeanSubscriber(mqtt.Client):
    """See the module docstring. Set `on_publish_received` instead of `on_message`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.on_publish_received: PublishCallback | None = None
        self.on_message = self._from_paho  # what paho handles itself (QoS 2, MQTT 5) ends up here
        self._read_from: object = None  # the socket the buffered bytes came from
        self._read_buffer = b""
        self._read_pos = 0
        self._read_at = datetime.now(UTC)

    def buffered(self) -> int:
        """Bytes read from the socket that paho has not consumed yet."""
        if self._read_from is not self._sock:
            return 0
        return len(self._read_buffer) - self._read_pos

    def message_callback_add(self, sub: str, callback: Any) -> None:
        raise NotImplementedError("LeanSubscriber has one callback: on_publish_received")

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._read_from is not self._sock or self._read_pos >= len(self._read_buffer):
            data = super()._sock_recv(READ_CHUNK)  # BlockingIOError when there is nothing
            if not data:
                return data  # end of stream: paho treats it as a lost connection
            self._read_from, self._read_buffer, self._read_pos = self._sock, data, 0
            self._read_at = datetime.now(UTC)
        pos = self._read_pos
        chunk = self._read_buffer[pos : pos + bufsize]
        self._read_pos = pos + len(chunk)
        return chunk

    def _handle_publish(self) -> MQTTErrorCode:
        header: int = self._in_packet["command"]
        qos = (header & 0x06) >> 1
        callback = self.on_publish_received
        if qos > 1 or self._protocol == mqtt.MQTTv5 or callback is None:
            return super()._handle_publish()
        packet = self._in_packet["packet"]
        end_of_topic = 2 + int.from_bytes(packet[:2], "big")
        start = end_of_topic + 2 if qos else end_of_topic
        if end_of_topic == 2 or len(packet) < start:
            return MQTTErrorCode.MQTT_ERR_PROTOCOL  # as paho: no topic, or cut short
        topic = packet[2:end_of_topic].decode(errors="replace")
        mid = int.from_bytes(packet[end_of_topic:start], "big") if qos else 0
        callback(topic, bytes(packet[start:]), mid, qos, self._read_at)
        if qos and not self._manual_ack:
            return self._send_puback(mid)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _from_paho(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        callback = self.on_publish_received
        if callback is None:
            return
        topic = msg._topic.decode(errors="replace")  # msg.topic raises on bad UTF-8
        callback(topic, bytes(msg.payload), msg.mid, msg.qos, self._read_at)
