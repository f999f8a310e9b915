"""What the ingest service needs from the outside world, as small protocols and records.

The composition root plugs in adapters: a Kafka producer or the embedded in-process bus for
`ReadingHandoff`, the database for `RejectionStore` and `TechnicalAlarms`. Tests plug in the same
real adapters against real services; these protocols exist so that `service.py` stays free of
paho, psycopg and aiokafka.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ingest.bound import BoundMessage
from ingest.contract import Rejection

# Rejected payloads are kept for inspection up to this size (the contract limit by default).
KEEP_PAYLOAD_BYTES = 65_536


@dataclass(frozen=True, slots=True)
class RawMessage:
    """One MQTT message as it left the broker, stamped once with its receive time (UTC)."""

    topic: str
    payload: bytes
    received_at: datetime
    mid: int = 0
    qos: int = 1
    connection: int = 0  # which MQTT connection delivered it: acks go back on that one only


@dataclass(frozen=True, slots=True)
class RejectedRecord:
    """A rejection with the payload it came from, as stored in `rejected_readings`."""

    received_at: datetime
    topic: str
    rejection: Rejection
    payload: bytes  # at most KEEP_PAYLOAD_BYTES
    payload_bytes: int

    @classmethod
    def of(cls, raw: RawMessage, rejection: Rejection) -> RejectedRecord:
        kept = raw.payload[:KEEP_PAYLOAD_BYTES]
        return cls(raw.received_at, raw.topic, rejection, kept, len(raw.payload))


@dataclass(frozen=True, slots=True)
class TechnicalAlert:
    """A problem with a device or the pipeline itself, not with a patient."""

    kind: str  # e.g. "device_bad_data"
    subject: str  # e.g. the device id
    detail: str
    at: datetime


class ReadingHandoff(Protocol):
    async def hand_off(self, messages: Sequence[BoundMessage]) -> None:
        """Return once the messages are durable downstream; raise if they are not."""


class RejectionStore(Protocol):
    async def store(self, records: Sequence[RejectedRecord]) -> None:
        """Return once the records are stored; raise if they are not."""


class TechnicalAlarms(Protocol):
    async def raise_alarm(self, alert: TechnicalAlert) -> None: ...
