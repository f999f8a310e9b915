"""Quarantine: one message the store cannot take must not stop the ingest for every patient.

Issue 14, finding 1: a message that passes the contract but makes a store raise (a serialiser's
RecursionError, a value the database refuses) used to propagate, stop `vigil run`, and come back
on every start because the broker redelivers it. `isolating` writes a batch and, when the write
fails with an error that is not retriable, splits the batch in halves and writes each, down to
the single messages that fail: the rest is stored (every write is idempotent, so parts written
twice are harmless), and each failing message is returned with its error. `quarantined` turns
one into a `rejected_readings` record with reason `unstorable`, its readings rendered as a v1
message, so it is counted, queryable and replayable. Retriable errors (the database or Kafka
unavailable) propagate untouched: an outage must hold the batch back, never quarantine it.

Must not: swallow an error silently (every failure is returned, and the callers store and log
it), or decide what is retriable (the caller names the types).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import orjson

from ingest.bound import BoundMessage
from ingest.contract import Rejection, RejectReason, readings_topic
from ingest.ports import RejectedRecord
from ingest.retry import describe

M = TypeVar("M")


async def isolating(
    write: Callable[[Sequence[M]], Awaitable[int]],
    items: Sequence[M],
    *,
    retriable: tuple[type[BaseException], ...],
) -> tuple[int, list[tuple[M, Exception]]]:
    """`write(items)`; on a non-retriable error, bisect down to the failing items. Returns the
    sum of what the successful writes returned and each failing item with its error. When every
    item of several fails, the fault is not in one message but in the store (a bug, a broken
    schema): the first error is raised, and the process stops loudly rather than quarantine
    everything it receives."""
    total, failed = await _bisect(write, items, retriable)
    if len(items) > 1 and len(failed) == len(items):
        raise failed[0][1]
    return total, failed


async def _bisect(
    write: Callable[[Sequence[M]], Awaitable[int]],
    items: Sequence[M],
    retriable: tuple[type[BaseException], ...],
) -> tuple[int, list[tuple[M, Exception]]]:
    try:
        return await write(items), []
    except retriable:
        raise
    except Exception as exc:  # returned to the caller, which stores and logs it
        if len(items) <= 1:
            return 0, [(item, exc) for item in items]
    middle = len(items) // 2
    first, failed = await _bisect(write, items[:middle], retriable)
    second, more = await _bisect(write, items[middle:], retriable)
    return first + second, failed + more


def render(bound: BoundMessage) -> bytes:
    """The message as a v1 payload (values as the device sent them), for inspection and replay;
    without its context when the context is what cannot be serialised."""
    m = bound.message
    doc = {
        "v": 1,
        "device_id": m.device_id,
        "seq": m.seq,
        "ts": m.measured_at.isoformat(),
        "readings": [
            {"metric": x.metric, "value": x.orig_value, "unit": x.orig_unit} for x in m.measurements
        ],
    }
    try:
        return orjson.dumps({**doc, "context": m.context})
    except TypeError:  # orjson.JSONEncodeError: too deep, or not JSON
        return orjson.dumps(doc)


def quarantined(bound: BoundMessage, error: BaseException) -> RejectedRecord:
    detail = f"the store refused this message ({describe(error)}); kept here instead"
    return _record(bound, RejectReason.UNSTORABLE, detail)


def seq_reused(bound: BoundMessage) -> RejectedRecord:
    """A copy of a stored (device_id, seq) with other content: refused, kept for inspection."""
    detail = "this seq is stored already with other content; this copy was not stored"
    return _record(bound, RejectReason.SEQ_REUSED, detail)


def _record(bound: BoundMessage, reason: RejectReason, detail: str) -> RejectedRecord:
    m = bound.message
    rejection = Rejection(reason, detail, m.device_id, m.seq)
    payload = render(bound)
    return RejectedRecord(m.received_at, readings_topic(m.device_id), rejection, payload,
                          len(payload), hashlib.sha256(payload).digest())  # fmt: skip
