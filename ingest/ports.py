"""What the ingest service needs from the outside world, as small protocols and records.

The composition root plugs in adapters: a Kafka producer or the embedded in-process bus for
`ReadingHandoff`, the database for `RejectionStore` and `TechnicalAlarms`. Tests plug in the same
real adapters against real services; these protocols exist so that `service.py` stays free of
paho, psycopg and aiokafka.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ingest.bound import BoundMessage
from ingest.contract import Rejection

# A refused message's payload is kept whole once, up to this size (the contract's limit), on its
# first refusal; every other refusal from the same message keeps an excerpt of this size.
KEEP_PAYLOAD_BYTES = 65_536
EXCERPT_BYTES = 256


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
    """A rejection with (part of) the payload it came from, as stored in `rejected_readings`.

    Of all the refusals of one received message, the first keeps the payload (at most
    KEEP_PAYLOAD_BYTES) and the others an excerpt (EXCERPT_BYTES): a payload of a thousand bad
    readings is stored once, not a thousand times. All carry the whole payload's size and
    SHA-256, which identifies a redelivery of it.
    """

    received_at: datetime
    topic: str
    rejection: Rejection
    payload: bytes  # the payload, or the start of it
    payload_bytes: int  # the size of the whole payload received
    payload_sha256: bytes  # of the whole payload received
    first: bool = True  # the first refusal of its message: the one that counts its bytes

    @classmethod
    def all_of(cls, raw: RawMessage, rejections: Sequence[Rejection]) -> list[RejectedRecord]:
        """The records of one received message's refusals, its payload kept whole once."""
        if not rejections:
            return []
        digest = hashlib.sha256(raw.payload).digest()
        whole, excerpt = raw.payload[:KEEP_PAYLOAD_BYTES], raw.payload[:EXCERPT_BYTES]
        size = len(raw.payload)
        return [
            cls(raw.received_at, raw.topic, r, excerpt if i else whole, size, digest, i == 0)
            for i, r in enumerate(rejections)
        ]


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


class HandledSeqs(Protocol):
    async def handled_through(self, marks: Mapping[str, int]) -> dict[str, int]:
        """For each device given with a seq mark, how far past the mark every seq is handled
        (stored or refused) in the database; only devices with at least mark + 1 appear."""
