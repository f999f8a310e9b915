"""Records of the device contract: what a device message becomes, or why it was refused.

These are plain frozen values. They carry no transport types (no paho message, no Kafka record)
and know nothing about patients: binding a device to a patient happens later, in the ingest
service. Times are timezone-aware UTC datetimes; values are floats in the metric's canonical unit,
with the value and unit the device sent kept beside them for provenance.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple


class RejectReason(StrEnum):
    """Machine-readable reasons a payload, or one reading in it, is refused."""

    OVERSIZED = "oversized"
    MALFORMED = "malformed"  # not UTF-8 JSON
    SCHEMA = "schema"  # JSON, but not a v1 message or SenML pack
    UNSUPPORTED_VERSION = "unsupported_version"
    BAD_TOPIC = "bad_topic"
    DEVICE_MISMATCH = "device_mismatch"  # payload device_id differs from the topic
    BAD_TIMESTAMP = "bad_timestamp"  # missing, unparseable or without a UTC offset
    CLOCK_SKEW = "clock_skew"  # measurement time too far in the future
    TOO_OLD = "too_old"  # measurement time older than the accepted backlog
    UNKNOWN_METRIC = "unknown_metric"
    MISSING_UNIT = "missing_unit"
    UNKNOWN_UNIT = "unknown_unit"  # not a unit this metric can be measured in
    NOT_FINITE = "not_finite"  # NaN, infinity or not a number
    IMPLAUSIBLE = "implausible"  # outside physiological plausibility bounds
    DUPLICATE_METRIC = "duplicate_metric"  # same metric twice under one seq
    TOO_MANY_READINGS = "too_many_readings"
    BAD_CONTEXT = "bad_context"  # context outside the bounds: dropped, readings kept
    UNBOUND_DEVICE = "unbound_device"  # decided by ingest, not by the contract
    UNSTORABLE = "unstorable"  # the store raised on this message: quarantined (ingest decides)
    SEQ_REUSED = "seq_reused"  # (device_id, seq) stored already with other content (the sink)


class Measurement(NamedTuple):
    """One reading inside a device message, normalised to the metric's canonical unit.

    A NamedTuple rather than a frozen dataclass because one is built per reading on the ingest
    hot path (a quarter of the cost); it is just as immutable, and only `decode` builds it, after
    checking the value is finite, plausible and in a known unit.
    """

    metric: str
    value: float
    unit: str
    orig_value: float
    orig_unit: str


class DeviceMessage(NamedTuple):
    """What one device measured at one moment; (device_id, seq) is the unit of idempotency.

    Both times are timezone-aware UTC. A NamedTuple for the same reason as `Measurement`.
    `fingerprint` identifies the content as sent (`fingerprint` below): two copies of a seq
    with the same one are one message; with different ones, the seq was reused.
    """

    device_id: str
    seq: int
    measured_at: datetime
    received_at: datetime
    measurements: tuple[Measurement, ...]
    context: dict[str, Any] | None = None
    fingerprint: bytes = b""  # empty: unknown (built outside the contract), never a conflict

    @property
    def key(self) -> tuple[str, int]:
        return (self.device_id, self.seq)


def fingerprint(sent_time: float | str, measurements: tuple[Measurement, ...]) -> bytes:
    """16 bytes identifying a message's content as the device sent it: its time as sent (the
    instant, as epoch seconds, or `"r<seconds>"` for a SenML time relative to receipt, so that a
    resent pack matches its first copy) and its readings' metrics, values and units as sent.
    One string and one hash per message: it runs on the ingest's hot path."""
    text = repr(sent_time)
    for m in measurements:
        text += f"|{m.metric},{m.orig_value!r},{m.orig_unit}"
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a payload or one of its readings was refused: stored and counted, never dropped."""

    reason: RejectReason
    detail: str
    device_id: str | None = None
    seq: int | None = None
    metric: str | None = None


class Decoded(NamedTuple):
    """The total result of decoding one payload: accepted messages and rejections, possibly both."""

    messages: tuple[DeviceMessage, ...] = ()
    rejections: tuple[Rejection, ...] = ()
    readings_in_payload: int = 0

    @property
    def accepted_readings(self) -> int:
        return sum(len(m.measurements) for m in self.messages)
