"""Discard a broker session nobody will resume: `vigil services drop-session CLIENT_ID`.

An offline persistent MQTT session keeps queueing what its subscriptions match, for 7 days and
up to 300,000 messages (infra/mosquitto/mosquitto.conf.in). That is what lets the ingest stop
without losing readings. The session of an ingest that will not come back (a client id that was
renamed, a demo stopped on a developer's machine) only grows, and the broker rewrites its whole
store every 2 s: with two such queues full (208 MB) the broker stalled 0.7 s every 2.7 s and the
embedded runner's slowest detections waited 0.6 s for it. One login with that client id and a
clean session discards the session and its queue.

Must not: be used on the session of an ingest that will come back (its queued readings go with
it); log in with anything but the service account of the settings.
"""

from __future__ import annotations

import threading
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from vigil.settings import Settings


class SessionError(RuntimeError):
    """The broker refused the clean-session login (or did not answer)."""


def discard_session(settings: Settings, client_id: str, timeout_s: float = 10.0) -> None:
    """Log in as `client_id` with a clean session (MQTT 3.1.1, as the ingest) and leave."""
    m = settings.mqtt
    host, port, tls = m.service_endpoint()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True,
                         protocol=mqtt.MQTTv311)  # fmt: skip
    client.username_pw_set(m.username, m.password.get_secret_value())
    if tls is not None:
        client.tls_set_context(tls)
    answered, refused = threading.Event(), []

    def on_connect(c: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            refused.append(str(reason))
        answered.set()

    client.on_connect = on_connect
    client.connect(host, port)
    client.loop_start()
    try:
        if not answered.wait(timeout_s) or refused:
            raise SessionError(f"session {client_id} not discarded: {refused or 'no CONNACK'}")
    finally:
        client.disconnect()
        client.loop_stop()
