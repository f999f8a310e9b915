"""What a simulated device does with the patient messages it receives (DESIGN 5, tier 1).

Messages arrive on `vigil/v1/devices/{device_id}/messages` at least once: the same `message_id`
may come again after a redelivery, and a device shows it once. A `remeasure` prompt about a metric
the device measures asks the patient to measure again; the simulation schedules that extra
measurement (simulators.runner). Pure: bytes in, decisions out.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import orjson

REMEASURE = "remeasure"


@dataclass(frozen=True, slots=True)
class PatientMessage:
    message_id: str
    template: str
    metric: str | None
    text: str


def parse(data: bytes | bytearray) -> PatientMessage | None:
    """A message payload v1, or None when it is not one."""
    try:
        doc = orjson.loads(data)
        if doc["v"] != 1:
            return None
        metric = doc.get("metric")
        return PatientMessage(
            str(doc["message_id"]),
            str(doc["template"]),
            None if metric is None else str(metric),
            str(doc["text"]),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None


@dataclass(slots=True)
class Inbox:
    """The messages a device has shown, deduplicated on `message_id` (the last `memory` ids)."""

    memory: int = 1_000
    shown: list[PatientMessage] = field(default_factory=list)
    duplicates: int = 0
    _recent: deque[str] = field(default_factory=deque)
    _ids: set[str] = field(default_factory=set)

    def receive(self, message: PatientMessage) -> bool:
        """True when the message is new (to be shown and acted on), False for a repeat."""
        if message.message_id in self._ids:
            self.duplicates += 1
            return False
        self._ids.add(message.message_id)
        self._recent.append(message.message_id)
        if len(self._recent) > self.memory:
            self._ids.discard(self._recent.popleft())
        self.shown.append(message)
        del self.shown[: -self.memory]
        return True


def remeasure_of(message: PatientMessage, metrics: tuple[str, ...]) -> bool:
    """Whether the device, measuring `metrics`, should measure again for this message."""
    return message.template == REMEASURE and message.metric in metrics
