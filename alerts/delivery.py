"""Tier-1 delivery rules: what a patient message looks like on the wire, when a delivery counts
as done, and when a failed one is tried again (DESIGN 5). Pure: no I/O, clocks passed in.

The outbox sender (alerts.outbox) claims `patient_messages` rows, hands each to every device
currently bound to the patient, and records the `Outcome` decided here:

- every bound device's publish acknowledged by the broker: sent (`sent_at`, `sent_to`);
- a publish failed: one more attempt counted, the reason kept, tried again after a backoff;
- no device bound to the patient: kept unsent with `no_bound_device`, never dropped, tried again
  after a backoff or as soon as one of the patient's devices is bound.

The backoff is stored with the message (`failures`, `next_attempt_at`), so a restarted sender
neither resends early nor starts the backoff over. A message in backoff is left out of the
claims until it is due, so a message that keeps failing (a poison message, a patient without a
device) never holds up the ones behind it. Delivery is at least once: the payload's
`message_id` is the outbox row's id, the same on every redelivery, and the device deduplicates
on it. Messages unsent for longer than a set age are a technical alarm (`Backlog`), raised once
and cleared when none is left that old.

Must not: render text (alerts.messages does, once, before the row is written) or talk to a
broker or database.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import orjson

NO_BOUND_DEVICE = "no_bound_device"
MAX_ERROR_CHARS = 200
STUCK_ALARM = "outbox_stuck"  # technical alert kind; its subject is the outbox table
STUCK_SUBJECT = "patient_messages"


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
    failures: int = 0  # delivery rounds that failed so far (drives the backoff)


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


@dataclass(frozen=True, slots=True)
class Backoff:
    """When a message that failed is tried again: `base_s` after its first failed round, doubled
    per failed round, at most `max_s`. The failures are counted in the outbox row."""

    base_s: float = 1.0
    max_s: float = 300.0

    def __post_init__(self) -> None:
        if not 0 < self.base_s <= self.max_s:
            raise ValueError("backoff needs 0 < base_s <= max_s")

    def delay_s(self, failures: int) -> float:
        """The wait after the `failures`-th failed round in a row (1 for the first)."""
        return min(self.base_s * 2.0 ** min(max(failures, 1) - 1, 60), self.max_s)

    def next_attempt(self, message: OutboxMessage, now: datetime) -> datetime:
        """When `message`, which has just failed once more, is due again."""
        return now + timedelta(seconds=self.delay_s(message.failures + 1))


def wait_s(next_due: datetime | None, now: datetime, longest_s: float) -> float:
    """How long a sender may wait for news: until the next message in backoff falls due (0 if it
    is due already), at most `longest_s`; `next_due` None: none is waiting."""
    if next_due is None:
        return longest_s
    return min(longest_s, max(0.0, (next_due - now).total_seconds()))


@dataclass(frozen=True, slots=True)
class Backlog:
    """The messages unsent for longer than `stuck_after_s` at `now`."""

    count: int
    oldest: datetime | None  # creation time of the oldest of them
    for_device: int  # of them, waiting for a device to be bound to their patient
    stuck_after_s: float
    now: datetime

    def detail(self) -> str:
        """The alarm's text: numbers only, no patient or message text."""
        age_s = 0.0 if self.oldest is None else (self.now - self.oldest).total_seconds()
        return (
            f"{self.count} patient message(s) unsent for over {self.stuck_after_s:.0f} s "
            f"(oldest {age_s:.0f} s; {self.for_device} waiting for a bound device)"
        )


def alarm_change(raised: bool | None, backlog: Backlog) -> Literal["raise", "clear"] | None:
    """Whether the stuck-outbox alarm changes (`raised` None: not known yet, e.g. at start)."""
    stuck = backlog.count > 0
    if stuck and raised is not True:
        return "raise"
    if not stuck and raised is not False:
        return "clear"
    return None
