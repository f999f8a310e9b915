"""Tier-1 delivery rules: what a patient message looks like on the wire, when a delivery counts
as done, and when a failed one is tried again (DESIGN 5). Pure: no I/O, clocks passed in.

The outbox sender (alerts.outbox) claims `patient_messages` rows, hands each to every device
currently bound to the patient, and records the `Outcome` decided here:

- every bound device's publish acknowledged by the broker: sent (`sent_at`, `sent_to`);
- a publish failed: one more attempt counted, the reason kept, tried again after a backoff;
- no device bound to the patient: kept unsent with `no_bound_device`, never dropped, tried again
  after a backoff or as soon as a binding changes.

A message in backoff is left out of the next claims, so a message that keeps failing (a poison
message, a patient without a device) never holds up the ones behind it. Delivery is at least
once: the payload's `message_id` is the outbox row's id, the same on every redelivery, and the
device deduplicates on it.

Must not: render text (alerts.messages does, once, before the row is written) or talk to a
broker or database.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

import orjson

NO_BOUND_DEVICE = "no_bound_device"
MAX_ERROR_CHARS = 200


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """One unsent `patient_messages` row, with the metric of its alert (None without one)."""

    id: uuid.UUID
    alert_id: uuid.UUID | None
    patient_id: str
    template: str
    lang: str
    body: str
    metric: str | None


@dataclass(frozen=True, slots=True)
class Outcome:
    message_id: uuid.UUID
    sent_to: tuple[str, ...]  # the devices it went to; empty unless sent
    error: str | None  # None: sent
    attempted: bool  # handed to the broker (counts as a delivery attempt)

    @property
    def sent(self) -> bool:
        return self.error is None


def payload(message: OutboxMessage, sent_at: datetime) -> bytes:
    """The JSON a device receives on `vigil/v1/devices/{device_id}/messages`."""
    return orjson.dumps(
        {
            "v": 1,
            "message_id": str(message.id),
            "alert_id": None if message.alert_id is None else str(message.alert_id),
            "template": message.template,
            "lang": message.lang,
            "text": message.body,
            "metric": message.metric,
            "sent_at": sent_at.isoformat(),
        }
    )


def describe(exc: BaseException) -> str:
    """A failed publish as stored in `last_error`: the exception's class and message, short.
    (Publisher errors name topics and broker reasons, never message text.)"""
    text = str(exc)
    return (type(exc).__name__ + (f": {text}" if text else ""))[:MAX_ERROR_CHARS]


def outcome(
    message_id: uuid.UUID, devices: tuple[str, ...], errors: tuple[BaseException | None, ...]
) -> Outcome:
    """What became of a message handed to `devices` (`errors[i]`: how device i's publish went)."""
    if not devices:
        return Outcome(message_id, (), NO_BOUND_DEVICE, attempted=False)
    failed = [e for e in errors if e is not None]
    if failed:
        return Outcome(message_id, (), describe(failed[0]), attempted=True)
    return Outcome(message_id, devices, None, attempted=True)


@dataclass(slots=True)
class _Waiting:
    failures: int
    until: float
    reason: str


@dataclass(slots=True)
class Backoff:
    """Messages waiting before their next try, on a monotonic clock: `base_s`, doubled per
    consecutive failure, at most `max_s`. Kept in the sender's memory: a restarted sender tries
    everything once at start, then backs off again."""

    base_s: float = 1.0
    max_s: float = 300.0
    _waiting: dict[uuid.UUID, _Waiting] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0 < self.base_s <= self.max_s:
            raise ValueError("backoff needs 0 < base_s <= max_s")

    def failed(self, message_id: uuid.UUID, reason: str, now: float) -> float:
        """Record a failure; return the delay before the message is tried again."""
        previous = self._waiting.get(message_id)
        failures = 1 if previous is None else previous.failures + 1
        delay: float = min(self.base_s * 2.0 ** min(failures - 1, 60), self.max_s)
        self._waiting[message_id] = _Waiting(failures, now + delay, reason)
        return delay

    def record(self, outcomes: list[Outcome], now: float) -> None:
        for o in outcomes:
            if o.error is None:
                self._waiting.pop(o.message_id, None)
            else:
                self.failed(o.message_id, o.error, now)

    def waiting(self, now: float) -> list[uuid.UUID]:
        """Messages not to claim yet. Entries due for longer than `max_s` are forgotten (sent by
        another sender, or deleted): a message still failing has been tried and recorded again
        by then."""
        for message_id in [m for m, w in self._waiting.items() if w.until < now - self.max_s]:
            del self._waiting[message_id]
        return [m for m, w in self._waiting.items() if w.until > now]

    def release(self, reason: str, now: float) -> int:
        """Make the messages waiting for `reason` due now (e.g. a device was bound)."""
        released = 0
        for w in self._waiting.values():
            if w.reason == reason and w.until > now:
                w.until = now
                released += 1
        return released

    def wait_s(self, now: float, longest_s: float) -> float:
        """How long until the next waiting message is due, at most `longest_s`."""
        due = [w.until - now for w in self._waiting.values() if w.until > now]
        return max(0.0, min([longest_s, *due]))
