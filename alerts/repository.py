"""PostgreSQL adapter of the alerts: apply detections to alert episodes, transactionally.

`PgAlertStore.record` runs one transaction per batch. It takes a transaction-scoped advisory
lock first, so alert events get their `seq` in commit order (a websocket client resuming "after
seq N" can never miss a smaller seq committed later), then for each detection:

1. insert it into `detections` ON CONFLICT DO NOTHING: a known id is a redelivery or a replay
   (even of a detection whose alert has since been resolved), and nothing else changes;
2. lock the open alert of (patient, rule), if any (SELECT ... FOR UPDATE);
3. fold the detection in with the pure episode functions (fired: open or update; cleared: record
   that the condition cleared on the open alert);
4. insert the event and insert or update the alert.

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

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from alerts._alert_row import VIEW_COLUMNS, AlertRow
from alerts._sql import (
    EVENTS_CHANNEL,
    EventRow,
    insert_events,
    lock_alert_writes,
)
from alerts.episodes import Alert, AlertEvent, AlertStatus, condition_cleared, open_or_update
from alerts.response import Escalator
from stream.detections import Detection, Kind, Severity, Worse

log = logging.getLogger(__name__)

__all__ = ["EVENTS_CHANNEL", "PgAlertStore", "append_events"]


def _wall_clock() -> datetime:
    return datetime.now(UTC)


class PgAlertStore:
    def __init__(
        self, pool: AsyncConnectionPool, clock: Callable[[], datetime] = _wall_clock
    ) -> None:
        self._pool = pool
        self._escalator = Escalator(clock)

    async def record(self, detections: Sequence[Detection]) -> None:
        if not detections:
            return
        ordered = sorted(detections, key=lambda d: (d.measured_at, d.device_id, d.seq))
        async with self._pool.connection() as conn, conn.transaction():
            await lock_alert_writes(conn)
            new_events = 0
            for d in ordered:
                new_events += await self._apply(conn, d)
            if new_events:
                await conn.execute("SELECT pg_notify(%s, '')", (EVENTS_CHANNEL,))

    async def _apply(self, conn: AsyncConnection[Any], d: Detection) -> int:
        if not await _insert_detection(conn, d):
            return 0  # seen before: a redelivery or a replay changes nothing
        current = await _open_alert(conn, d.patient_id, d.rule_id)
        if d.kind is Kind.CLEARED:
            if current is None:
                return 0
            await conn.execute(
                "UPDATE alerts SET condition_cleared_at = %s, updated_at = now() WHERE id = %s",
                (d.measured_at, current.id),
            )
            await self._escalator.cleared(conn, condition_cleared(current, d))
            return 1
        alert, event = open_or_update(current, d)
        if current is None:
            await _insert_alert(conn, alert)
            await self._escalator.opened(conn, d, event)
        else:
            await _update_alert(conn, alert)
            await self._escalator.repeated(conn, d, event)
        return 1


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


async def _open_alert(conn: AsyncConnection[Any], patient_id: str, rule_id: str) -> Alert | None:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        """
        SELECT id, patient_id, rule_id, title, severity, status, metric, unit, worse,
               first_value, last_value, worst_value, count, opened_at, last_seen_at
          FROM alerts
         WHERE patient_id = %s AND rule_id = %s AND status <> 'resolved'
           FOR UPDATE
        """,
        (patient_id, rule_id),
    )
    row = await cur.fetchone()
    if row is None:
        return None
    row["severity"] = Severity(row["severity"])
    row["status"] = AlertStatus(row["status"])
    row["worse"] = Worse(row["worse"])
    return Alert(**row)


async def _insert_detection(conn: AsyncConnection[Any], d: Detection) -> bool:
    cur = await conn.execute(
        """
        INSERT INTO detections (id, patient_id, rule_id, kind, severity, late, device_id, seq,
                                metric, value, unit, measured_at, details, rule_version)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (id) DO NOTHING
        """,
        (d.id, d.patient_id, d.rule_id, d.kind.value, d.severity.value, d.late, d.device_id, d.seq,
         d.metric, d.value, d.unit, d.measured_at, Jsonb(dict(d.details)), d.rule_version),
    )  # fmt: skip
    return cur.rowcount == 1


async def _insert_alert(conn: AsyncConnection[Any], a: Alert) -> bool:
    cur = await conn.execute(
        """
        INSERT INTO alerts (id, patient_id, rule_id, title, severity, status, metric, unit, worse,
                            first_value, last_value, worst_value, count, opened_at, last_seen_at)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (id) DO NOTHING
        """,
        (a.id, a.patient_id, a.rule_id, a.title, a.severity.value, a.status.value, a.metric,
         a.unit, a.worse.value, a.first_value, a.last_value, a.worst_value, a.count, a.opened_at,
         a.last_seen_at),
    )  # fmt: skip
    return cur.rowcount == 1


async def _update_alert(conn: AsyncConnection[Any], a: Alert) -> None:
    await conn.execute(
        """
        UPDATE alerts
           SET last_value = %s, worst_value = %s, count = %s, last_seen_at = %s, updated_at = now(),
               condition_cleared_at = NULL
         WHERE id = %s
        """,
        (a.last_value, a.worst_value, a.count, a.last_seen_at, a.id),
    )
