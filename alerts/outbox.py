"""The tier-1 outbox sender: delivers `patient_messages` rows to the patient's devices over MQTT.

alerts.response writes a message row in the alert's transaction and NOTIFYs `vigil_outbox`,
which PostgreSQL delivers when that transaction commits. `OutboxSender.run` LISTENs on it (and
on `vigil_bindings`: a newly bound device releases the messages waiting for one), with a poll
every `poll_s` as a safety net for anything a lost connection missed.

Each round claims a batch of unsent messages, oldest first, with `FOR UPDATE SKIP LOCKED`, so
several senders share the outbox without sending a message twice at once; looks up each
patient's currently bound devices; hands every (device, message) to the publisher port; and
records the outcome (alerts.delivery) in the same transaction. Messages that failed wait out a
backoff and are left out of the next claims, so one that keeps failing never blocks the rest.

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
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from alerts._sql import OUTBOX_CHANNEL
from alerts.delivery import NO_BOUND_DEVICE, Backoff, OutboxMessage, Outcome, outcome, payload
from ingest.contract import messages_topic
from ingest.pg_listen import listen
from ingest.repository import BINDINGS_CHANNEL

log = logging.getLogger(__name__)

Publish = Callable[[str, bytes], Awaitable[None]]

_CLAIM = """
SELECT m.id, m.alert_id, m.patient_id, m.template, m.lang, m.body, a.metric
  FROM patient_messages m LEFT JOIN alerts a ON a.id = m.alert_id
 WHERE m.sent_at IS NULL AND NOT (m.id = ANY(%s))
 ORDER BY m.created_at, m.id
 LIMIT %s
   FOR UPDATE OF m SKIP LOCKED
"""
_BOUND = """
SELECT patient_id, array_agg(device_id ORDER BY device_id)
  FROM device_bindings
 WHERE patient_id = ANY(%s) AND valid_to IS NULL AND valid_from <= now()
 GROUP BY patient_id
"""
_RECORD = """
UPDATE patient_messages
   SET sent_at = %s, sent_to = %s, attempts = attempts + %s, last_error = %s
 WHERE id = %s
"""


async def claim(
    conn: psycopg.AsyncConnection[Any], limit: int, skip: Sequence[uuid.UUID]
) -> list[OutboxMessage]:
    """Lock up to `limit` unsent messages, oldest first, other than `skip` (in a transaction)."""
    cur = await conn.execute(_CLAIM, (list(skip), limit))
    return [OutboxMessage(*row) for row in await cur.fetchall()]


async def bound_devices(
    conn: psycopg.AsyncConnection[Any], patient_ids: set[str]
) -> dict[str, tuple[str, ...]]:
    cur = await conn.execute(_BOUND, (sorted(patient_ids),))
    return {patient_id: tuple(devices) for patient_id, devices in await cur.fetchall()}


async def record(
    conn: psycopg.AsyncConnection[Any], outcomes: Sequence[Outcome], sent_at: datetime
) -> None:
    rows = [
        (sent_at if o.sent else None, list(o.sent_to) if o.sent else None, int(o.attempted),
         o.error, o.message_id)
        for o in outcomes
    ]  # fmt: skip
    async with conn.cursor() as cur:
        await cur.executemany(_RECORD, rows)


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
        monotonic: Callable[[], float] = time.monotonic,
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
        self._monotonic = monotonic
        self.sent = 0  # messages delivered by this sender
        self.failed = 0  # delivery rounds that left a message unsent

    async def send_pending(self) -> int:
        """Deliver everything that is due, batch by batch; return how many were sent."""
        sent = 0
        while True:
            outcomes = await self._round()
            if not outcomes:
                return sent
            sent += sum(o.sent for o in outcomes)

    async def _round(self) -> list[Outcome]:
        skip = self.backoff.waiting(self._monotonic())
        async with self._pool.connection() as conn, conn.transaction():
            messages = await claim(conn, self._batch_max, skip)
            if not messages:
                return []
            devices = await bound_devices(conn, {m.patient_id for m in messages})
            at = self._clock()
            outcomes = await asyncio.gather(
                *(self._deliver(m, devices.get(m.patient_id, ()), at) for m in messages)
            )
            await record(conn, outcomes, at)
        self.backoff.record(outcomes, self._monotonic())
        self._log(outcomes)
        return outcomes

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
                     catch_up=self.send_pending, timeout_s=self._timeout,
                     retry_s=self._retry_s, max_retry_s=max(self._retry_s, 30.0))  # fmt: skip

    async def _wake(self, note: psycopg.Notify | None) -> None:
        if note is not None and note.channel == BINDINGS_CHANNEL:
            self.backoff.release(NO_BOUND_DEVICE, self._monotonic())
        await self.send_pending()

    def _timeout(self) -> float:
        return self.backoff.wait_s(self._monotonic(), self._poll_s)
