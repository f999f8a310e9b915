"""MQTT topic names of the device contract (DESIGN 3). Pure string functions, no paho."""

from __future__ import annotations

import re

PREFIX = "vigil/v1/devices/"
READINGS_FILTER = PREFIX + "+/readings"

# Device ids are also MQTT usernames and part of topic names: no wildcards, slashes or spaces.
# The prefix "svc-" is reserved for service accounts (the ingest reads every device's topic).
DEVICE_ID_RE = re.compile(r"(?!svc-)[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def readings_topic(device_id: str) -> str:
    return f"{PREFIX}{device_id}/readings"


def ack_topic(device_id: str) -> str:
    return f"{PREFIX}{device_id}/ack"


def status_topic(device_id: str) -> str:
    return f"{PREFIX}{device_id}/status"


def messages_topic(device_id: str) -> str:
    """Where tier-1 patient messages (prompts, reminders, advice) for this device's patient go."""
    return f"{PREFIX}{device_id}/messages"


def device_of_readings_topic(topic: str) -> str | None:
    """The device id a readings topic names, or None when the topic is not a readings topic."""
    if not topic.startswith(PREFIX) or not topic.endswith("/readings"):
        return None
    device_id = topic[len(PREFIX) : -len("/readings")]
    return device_id if DEVICE_ID_RE.fullmatch(device_id) else None
