"""The tier-1 outbox sender: delivers `patient_messages` rows to the patient's devices over MQTT.

alerts.response writes a message row in the alert's transaction and NOTIFYs `vigil_outbox`,
which PostgreSQL delivers when that transaction commits. `OutboxSender.run` LISTENs on it (and
on `vigil_bindings`: a newly bound device releases the messages waiting for one), with a poll
every `poll_s` as a safety net for anything a lost connection missed.

Each round claims a batch of unsent messages, oldest first, with `FOR UPDATE SKIP LOCKED`, so
several senders share the outbox without sending a message twice at once; looks up each
patient's currently bound devices; hands every (device, message) to the publisher port; and
records the outcome (alerts.delivery) in the same transaction. A message that failed is given
its next attempt time in its row (`next_attempt_at`, from the failed rounds counted in
`failures`) and is left out of the claims until then, so one that keeps failing never blocks
the rest and a restart neither resends early nor forgets the backoff. After the claims run dry,
the sender reads the earliest retry still ahead (as of that last claim, so one falling due in
between is not missed) and waits for a NOTIFY at most until then. A binding NOTIFY makes the
messages of that device's patient that wait for a device due at once.

Messages unsent for longer than `stuck_after_s` raise the technical alarm `outbox_stuck` (in
`technical_alerts`), once, and clear it when none is left that old; the backlog is looked at
after every delivery pass, so at least every `poll_s`.

The publisher port is any `async (topic, payload) -> None` that returns once the broker has
acknowledged the message (QoS 1 PUBACK) and raises otherwise; the deployment passes
ingest.downlink.MqttPublisher. "Sent" therefore means "accepted by the broker for the device's
topic": a device that keeps a persistent session gets it when it next connects.

Errors: a failed publish of any kind is an outcome (counted, logged, retried), never a crash;
a lost database (psycopg.OperationalError, pool timeout, OSError) is logged and the round
retried after `retry_s`, doubling up to 30 s (ingest.pg_listen); anything else propagates and
stops the process (fail loudly, CONVENTIONS 9).

Must not: render or change message text, or drop a message (it stays until it is sent).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

import psycopg
from psycopg_pool import AsyncConnectionPool

from alerts._sql import OUTBOX_CHANNEL
from alerts.delivery import (
    NO_BOUND_DEVICE,
    STUCK_ALARM,
    STUCK_SUBJECT,
    Backlog,
    Backoff,
    OutboxMessage,
    Outcome,
    alarm_change,
    outcome,
    payload,
    wait_s,
)
from ingest.contract import messages_topic
from ingest.pg_listen import listen
from ingest.ports import TechnicalAlert
from ingest.repository import BINDINGS_CHANNEL, PgTechnicalAlarms

log = logging.getLogger(__name__)

Publish = Callable[[str, bytes], Awaitable[None]]


class Alarms(Protocol):
    """Where the stuck-outbox alarm goes (ingest.repository.PgTechnicalAlarms)."""

    async def raise_alarm(self, alert: TechnicalAlert) -> None: ...
    async def clear_alarm(self, kind: str, subject: str, at: datetime) -> None: ...


_CLAIM = """
SELECT m.id, m.alert_id, m.patient_id, m.template, m.lang, m.body, a.metric, m.failures
  FROM patient_messages m LEFT JOIN alerts a ON a.id = m.alert_id
 WHERE m.sent_at IS NULL AND (m.next_attempt_at IS NULL OR m.next_attempt_at <= %s)
 ORDER BY m.created_at, m.id
 LIMIT %s
   FOR UPDATE OF m SKIP LOCKED
"""
_NEXT_DUE = """
SELECT min(next_attempt_at) FROM patient_messages WHERE sent_at IS NULL AND next_attempt_at > %s
"""
_BOUND = """
SELECT patient_id, array_agg(device_id ORDER BY device_id)
  FROM device_bindings
 WHERE patient_id = ANY(%s) AND valid_to IS NULL AND valid_from <= now()
 GROUP BY patient_id
"""
_RECORD = """
UPDATE patient_messages
   SET sent_at = %s, sent_to = %s, attempts = attempts + %s, last_error = %s,
       failures = failures + %s, next_attempt_at = %s
 WHERE id = %s
"""
_RELEASE = """
UPDATE patient_messages
   SET next_attempt_at = NULL
 WHERE sent_at IS NULL AND last_error = %s AND next_attempt_at IS NOT NULL
   AND patient_id IN (SELECT patient_id FROM device_bindings WHERE device_id = %s)
"""
_STUCK = """
SELECT count(*), min(created_at), count(*) FILTER (WHERE last_error = %s)
  FROM patient_messages
 WHERE sent_at IS NULL AND created_at <= %s
"""


async def claim(
    conn: psycopg.AsyncConnection[Any], limit: int, now: datetime
) -> list[OutboxMessage]:
    """Lock up to `limit` unsent messages due at `now`, oldest first (in a transaction)."""
    cur = await conn.execute(_CLAIM, (now, limit))
    return [OutboxMessage(*row) for row in await cur.fetchall()]


async def next_due(conn: psycopg.AsyncConnection[Any], after: datetime) -> datetime | None:
    """The earliest retry time after `after` among the unsent messages (None: no such retry)."""
    cur = await conn.execute(_NEXT_DUE, (after,))
    row = await cur.fetchone()
    return None if row is None else row[0]


async def bound_devices(
    conn: psycopg.AsyncConnection[Any], patient_ids: set[str]
) -> dict[str, tuple[str, ...]]:
    cur = await conn.execute(_BOUND, (sorted(patient_ids),))
    return {patient_id: tuple(devices) for patient_id, devices in await cur.fetchall()}


async def record(
    conn: psycopg.AsyncConnection[Any],
    delivered: Sequence[tuple[OutboxMessage, Outcome]],
    sent_at: datetime,
    retry_at: Callable[[OutboxMessage], datetime],
) -> None:
    """Store each outcome; a failed message gets one more failure and its next attempt time."""
    rows = [
        (sent_at, list(o.sent_to), int(o.attempted), None, 0, None, m.id) if o.sent
        else (None, None, int(o.attempted), o.error, 1, retry_at(m), m.id)
        for m, o in delivered
    ]  # fmt: skip
    async with conn.cursor() as cur:
        await cur.executemany(_RECORD, rows)


async def release_for_device(conn: psycopg.AsyncConnection[Any], device_id: str) -> int:
    """Make the messages waiting for a device, of the patients `device_id` is bound to, due."""
    cur = await conn.execute(_RELEASE, (NO_BOUND_DEVICE, device_id))
    return cur.rowcount


async def backlog(
    conn: psycopg.AsyncConnection[Any], now: datetime, stuck_after_s: float
) -> Backlog:
    """The messages unsent for longer than `stuck_after_s` at `now`."""
    cur = await conn.execute(_STUCK, (NO_BOUND_DEVICE, now - timedelta(seconds=stuck_after_s)))
    row = await cur.fetchone()
    count, oldest, for_device = row if row is not None else (0, None, 0)
    return Backlog(count, oldest, for_device, stuck_after_s, now)


class OutboxSender:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        conninfo: str,
        publish: Publish,
        *,
        clock: Callable[[], datetime],
        batch_max: int = 50,
        poll_s: float = 30.0,
        publish_timeout_s: float = 10.0,
        backoff: Backoff | None = None,
        retry_s: float = 5.0,
        stuck_after_s: float = 900.0,
        alarms: Alarms | None = None,
    ) -> None:
        self._pool = pool
        self._conninfo = conninfo
        self._publish = publish
        self._clock = clock
        self._batch_max = batch_max
        self._poll_s = poll_s
        self._publish_timeout_s = publish_timeout_s
        self.backoff = backoff or Backoff()
        self._retry_s = retry_s
        self._stuck_after_s = stuck_after_s
        self._alarms: Alarms = alarms or PgTechnicalAlarms(pool)
        self._next_due: datetime | None = None  # the earliest retry ahead, as of the last claim
        self._stuck: bool | None = None  # whether this sender raised the alarm (None: unknown)
        self.sent = 0  # messages delivered by this sender
        self.failed = 0  # delivery rounds that left a message unsent

    async def send_pending(self) -> int:
        """Deliver everything that is due, batch by batch, and look at what is left (the next
        retry, the alarm for stuck messages); return how many were sent."""
        sent = 0
        while outcomes := await self._round():
            sent += sum(o.sent for o in outcomes)
        await self._watch_backlog()
        return sent

    def wait_s(self) -> float:
        """How long to wait for a NOTIFY: until the next retry falls due, at most `poll_s`."""
        return wait_s(self._next_due, self._clock(), self._poll_s)

    async def device_bound(self, device_id: str) -> int:
        """A binding of `device_id` changed: its patient's messages waiting for a device are
        due now. Returns how many."""
        async with self._pool.connection() as conn:
            return await release_for_device(conn, device_id)

    async def _round(self) -> list[Outcome]:
        async with self._pool.connection() as conn, conn.transaction():
            at = self._clock()
            messages = await claim(conn, self._batch_max, at)
            if not messages:
                self._next_due = await next_due(conn, at)
                return []
            devices = await bound_devices(conn, {m.patient_id for m in messages})
            outcomes = await asyncio.gather(
                *(self._deliver(m, devices.get(m.patient_id, ()), at) for m in messages)
            )
            failed_at = self._clock()  # the backoff counts from the failure, not the claim
            retry_at = functools.partial(self.backoff.next_attempt, now=failed_at)
            await record(conn, list(zip(messages, outcomes, strict=True)), at, retry_at)
        self._log(outcomes)
        return outcomes

    async def _watch_backlog(self) -> None:
        now = self._clock()
        async with self._pool.connection() as conn:
            stuck = await backlog(conn, now, self._stuck_after_s)
        change = alarm_change(self._stuck, stuck)
        if change == "raise":
            await self._alarms.raise_alarm(
                TechnicalAlert(STUCK_ALARM, STUCK_SUBJECT, stuck.detail(), now)
            )
        elif change == "clear":
            await self._alarms.clear_alarm(STUCK_ALARM, STUCK_SUBJECT, now)
        self._stuck = stuck.count > 0

    async def _deliver(
        self, message: OutboxMessage, devices: tuple[str, ...], at: datetime
    ) -> Outcome:
        data = payload(message, at)
        errors = await asyncio.gather(*(self._attempt(messages_topic(d), data) for d in devices))
        return outcome(message.id, devices, tuple(errors))

    async def _attempt(self, topic: str, data: bytes) -> Exception | None:
        try:
            await asyncio.wait_for(self._publish(topic, data), self._publish_timeout_s)
        except Exception as exc:  # any failure of the port is an outcome: counted and retried
            return exc
        return None

    def _log(self, outcomes: list[Outcome]) -> None:
        failed = [o for o in outcomes if not o.sent]
        self.sent += len(outcomes) - len(failed)
        self.failed += len(failed)
        for o in failed:
            level = logging.WARNING if o.error == NO_BOUND_DEVICE else logging.ERROR
            log.log(
                level, "patient message %s not delivered (%s); will retry", o.message_id, o.error
            )

    async def run(self) -> None:
        """Until cancelled: deliver on every NOTIFY, when a backoff ends and every `poll_s`."""
        await listen(self._conninfo, [OUTBOX_CHANNEL, BINDINGS_CHANNEL], handle=self._wake,
                     catch_up=self.send_pending, timeout_s=self.wait_s,
                     retry_s=self._retry_s, max_retry_s=max(self._retry_s, 30.0))  # fmt: skip

    async def _wake(self, note: psycopg.Notify | None) -> None:
        if note is not None and note.channel == BINDINGS_CHANNEL:
            await self.device_bound(note.payload)
        await self.send_pending()
