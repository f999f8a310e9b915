"""MQTT sessions the benches measure with, on the running broker.

A persistent session is created and left offline so that published messages queue for it
(`open_session`); `bare_drain` times a bare paho subscriber taking them (the baseline of
`vigil bench ingest`); `close_session` discards a session and its queue. Must not: publish
(bench.traffic does) or touch the database.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from ingest.contract import READINGS_FILTER
from vigil.broker_sessions import discard_session
from vigil.settings import Settings


def _client(settings: Settings, client_id: str, *, clean: bool = False) -> mqtt.Client:
    """MQTT 3.1.1 with a persistent session, like the ingest: the same protocol costs."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean,
                    protocol=mqtt.MQTTv311)  # fmt: skip
    c.username_pw_set(settings.mqtt.username, settings.mqtt.password.get_secret_value())
    return c


def open_session(settings: Settings, client_id: str) -> None:
    """Create a persistent session subscribed to every device's readings, then go offline."""
    c = _client(settings, client_id)
    subscribed = threading.Event()
    c.on_subscribe = lambda *a: subscribed.set()
    c.connect(settings.mqtt.host, settings.mqtt.port)
    c.subscribe(READINGS_FILTER, qos=1)
    c.loop_start()
    if not subscribed.wait(10):
        raise RuntimeError("no SUBACK")
    c.disconnect()
    c.loop_stop()


def close_session(settings: Settings, client_id: str) -> None:
    """Discard the session `client_id` and its queue; raises if the broker refuses (a queue
    left behind would grow with every bench and slow the broker down)."""
    discard_session(settings, client_id)


def bare_drain(settings: Settings, client_id: str, count: int) -> float:
    """Seconds a bare paho QoS 1 subscriber needs to receive `count` queued messages."""
    got = 0
    done = threading.Event()

    def on_message(client: Any, userdata: Any, msg: Any) -> None:
        nonlocal got
        got += 1
        if got >= count:
            done.set()

    c = _client(settings, client_id)
    c.on_message = on_message
    t0 = time.perf_counter()
    c.connect(settings.mqtt.host, settings.mqtt.port)
    c.loop_start()
    if not done.wait(300):
        raise RuntimeError(f"bare subscriber got {got} of {count}")
    elapsed = time.perf_counter() - t0
    c.disconnect()
    c.loop_stop()
    return elapsed
