"""PostgreSQL adapter of the alerts: apply detections to alert episodes, transactionally.

`PgAlertStore.record` runs one transaction per batch. It takes a transaction-scoped advisory
lock first, so alert events get their `seq` in commit order (a websocket client resuming "after
seq N" can never miss a smaller seq committed later), then for each detection, in measurement
order (`_apply`, over an alerts._tx.Tx):

1. insert it into `detections` ON CONFLICT DO NOTHING: a known id is a redelivery or a replay
   (even of a detection whose alert has since been resolved), and nothing else changes;
2. lock the open alert of (patient, rule), if any (SELECT ... FOR UPDATE);
3. fold the detection in with the pure episode functions (fired: open or update; cleared: record
   that the condition cleared on the open alert);
4. insert the event and insert or update the alert; the escalator (alerts.response) runs the
   machine and records its effects.

A batch does this set-based (alerts._batch.BatchTx, two round trips in pipeline mode: the lock,
the detections and every read, then every write with the COMMIT); the fold in between is the same
code. If the batch is refused (a constraint, an unknown patient) it is recorded again one
detection at a time, each under a savepoint (alerts._tx.DirectTx): the others are recorded, and
a detection that fails never vanishes: in the same transaction it is kept whole in
`refused_detections` and raises the technical alert `detection_unrecorded` for its patient
(alerts._refused; once per detection id, so a redelivered batch adds nothing); it is also
logged with its reason (the error's class and SQLSTATE) and counted (`refused`, exposed as
`vigil_alerts_detections_unrecorded_total`). The database being unreachable is raised for the
caller to retry the batch.

A NOTIFY on `vigil_alert_events` tells the API's live feed that there is something new; it is
delivered only when the transaction commits.

`append_events` appends given events to existing alerts the same way (lock, events, NOTIFY),
without changing the alerts: for tools that need a stream of events on the feed (`vigil bench
ws`). Must not: decide what an alert is (alerts.episodes) or how it escalates (alerts.response).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from alerts._alert_row import VIEW_COLUMNS, AlertRow
from alerts._batch import BatchTx
from alerts._refused import keep_refused
from alerts._sql import (
    EVENTS_CHANNEL,
    EventRow,
    insert_events,
    lock_alert_writes,
)
from alerts._tx import DirectTx, Tx
from alerts.episodes import AlertEvent, condition_cleared, open_or_update
from alerts.response import Escalator
from ingest.retry import describe
from stream.detections import Detection, Kind

log = logging.getLogger(__name__)

__all__ = ["EVENTS_CHANNEL", "PgAlertStore", "append_events"]


def _wall_clock() -> datetime:
    return datetime.now(UTC)


class PgAlertStore:
    def __init__(
        self, pool: AsyncConnectionPool, clock: Callable[[], datetime] = _wall_clock
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._escalator = Escalator(clock)
        self.refused = 0  # detections the per-detection fallback could not record
        self.fallbacks = 0  # batches recorded one by one after the batch was refused

    async def record(self, detections: Sequence[Detection]) -> None:
        """Record a batch of detections in one transaction, set-based (alerts._batch); if that
        fails for a reason other than the database being unreachable, record them one by one
        so that one bad detection does not hold back the others."""
        if not detections:
            return
        ordered = _ordered(detections)
        try:
            # pipeline mode: BEGIN goes with the reads, the writes with COMMIT: two round trips
            async with self._pool.connection() as conn, conn.pipeline(), conn.transaction():
                tx = await BatchTx.load(conn, ordered, self._clock())
                new_events = 0
                for d in ordered:
                    new_events += await self._apply(tx, d)
                await tx.flush(conn, notify_events=new_events > 0)
            return
        except REFUSALS as exc:
            if _unreachable(exc):
                raise
            self.fallbacks += 1
            log.warning("alert writer: a batch of %d detections was refused (%s); recording"
                        " them one by one", len(ordered), describe(exc))  # fmt: skip
        await self._one_by_one(ordered)

    async def record_singly(self, detections: Sequence[Detection]) -> None:
        """The per-detection writer (the batch's fallback), in the same order and transaction
        shape: a statement per read and write. Kept callable for comparing the two."""
        if detections:
            await self._one_by_one(_ordered(detections))

    async def _one_by_one(self, ordered: Sequence[Detection]) -> None:
        """Each detection under its own savepoint: the others are recorded, one that fails is
        kept and staff told (alerts._refused), then logged and counted once committed."""
        kept: list[tuple[Detection, str]] = []
        async with self._pool.connection() as conn, conn.transaction():
            await lock_alert_writes(conn)
            tx, new_events = DirectTx(conn), 0
            for d in ordered:
                try:
                    async with conn.transaction():
                        new_events += await self._apply(tx, d)
                except REFUSALS as exc:
                    if _unreachable(exc):
                        raise
                    why = describe(exc)  # its savepoint has rolled back: keep it, tell staff
                    await keep_refused(conn, d, why, self._clock())
                    kept.append((d, why))
            if new_events:
                await conn.execute("SELECT pg_notify(%s, '')", (EVENTS_CHANNEL,))
        self.refused += len(kept)
        for d, why in kept:
            log.error("alert writer: detection %s (rule %s) not recorded (%s); kept in"
                      " refused_detections", d.id, d.rule_id, why)  # fmt: skip

    async def _apply(self, tx: Tx, d: Detection) -> int:
        if not await tx.is_new(d):
            return 0  # seen before: a redelivery or a replay changes nothing
        current = await tx.open_alert(d.patient_id, d.rule_id)
        if d.kind is Kind.CLEARED:
            if current is None:
                return 0
            await tx.mark_cleared(current.id, d.measured_at)
            await self._escalator.cleared(tx, condition_cleared(current, d))
            return 1
        alert, event = open_or_update(current, d)
        if current is None:
            await tx.insert_alert(alert)
            await self._escalator.opened(tx, d, event)
        else:
            await tx.update_alert(alert)
            await self._escalator.repeated(tx, d, event)
        return 1


REFUSALS = (psycopg.Error, LookupError, ValueError, AssertionError)


def _unreachable(exc: BaseException) -> bool:
    """The database is down or the connection broke: the caller retries the whole batch."""
    return isinstance(exc, psycopg.OperationalError) and not isinstance(
        exc, psycopg.errors.PipelineAborted
    )


def _ordered(detections: Sequence[Detection]) -> list[Detection]:
    """In measurement order, each id once (the first): the order every writer applies them."""
    unique: dict[uuid.UUID, Detection] = {}
    for d in detections:
        unique.setdefault(d.id, d)
    return sorted(unique.values(), key=lambda d: (d.measured_at, d.device_id, d.seq))


async def append_events(
    pool: AsyncConnectionPool, events: Sequence[AlertEvent], actor: str = "system"
) -> None:
    """Append `events` to their alerts' audit trails in the order given, in one transaction, as
    every alert writer does: under the event-order lock (so `seq` follows commit order), each
    event's payload merged with its alert's current view (whose tier scopes the live feed), a
    known event id skipped as a replay, and one NOTIFY to the live feed at commit. The alerts
    themselves do not change. Raises LookupError if an event's alert does not exist."""
    if not events:
        return
    async with pool.connection() as conn, conn.transaction():
        await lock_alert_writes(conn)
        views = await _views(conn, {e.alert_id for e in events})
        run: list[EventRow] = []
        for i, e in enumerate(events):  # one round trip per run of events of the same alert
            run.append((e.event_id, e.kind.value, e.at, e.payload, actor))
            if i + 1 == len(events) or events[i + 1].alert_id != e.alert_id:
                await insert_events(conn, views[e.alert_id], run)
                run = []
        await conn.execute("SELECT pg_notify(%s, '')", (EVENTS_CHANNEL,))


async def _views(conn: AsyncConnection[Any], ids: set[uuid.UUID]) -> dict[uuid.UUID, AlertRow]:
    """The alerts' views under their row locks (taken in id order, after the event-order lock,
    like every writer's)."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        f"SELECT {', '.join(VIEW_COLUMNS)} FROM alerts WHERE id = ANY(%s) ORDER BY id FOR UPDATE",
        (list(ids),),
    )
    views = {row["id"]: AlertRow.from_row(row) for row in await cur.fetchall()}
    if missing := ids - views.keys():
        raise LookupError(f"no such alerts: {sorted(map(str, missing))}")
    return views
