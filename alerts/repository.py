"""PostgreSQL adapter of the alerts: apply detections to alert episodes, transactionally.

`PgAlertStore.record` runs one transaction per batch. It takes a transaction-scoped advisory
lock first, so alert events get their `seq` in commit order (a websocket client resuming "after
seq N" can never miss a smaller seq committed later), then for each detection:

1. lock the open alert of (patient, rule), if any (SELECT ... FOR UPDATE);
2. fold the detection in with the pure `episodes.open_or_update`;
3. insert the event ON CONFLICT DO NOTHING: a known event id means a redelivery, and nothing
   else changes;
4. insert or update the alert.

A NOTIFY on `vigil_alert_events` tells the API's live feed that there is something new; it is
delivered only when the transaction commits.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from alerts.episodes import Alert, AlertEvent, AlertStatus, open_or_update
from stream.detections import Detection, Severity, Worse

log = logging.getLogger(__name__)

EVENTS_CHANNEL = "vigil_alert_events"
_EVENT_ORDER_LOCK = 0x5649_4749_4C45  # any constant shared by every alert writer


class PgAlertStore:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def record(self, detections: Sequence[Detection]) -> None:
        if not detections:
            return
        ordered = sorted(detections, key=lambda d: (d.measured_at, d.device_id, d.seq))
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_EVENT_ORDER_LOCK,))
            new_events = 0
            for d in ordered:
                new_events += await self._apply(conn, d)
            if new_events:
                await conn.execute("SELECT pg_notify(%s, '')", (EVENTS_CHANNEL,))

    async def _apply(self, conn: AsyncConnection[Any], d: Detection) -> int:
        current = await _open_alert(conn, d.patient_id, d.rule_id)
        alert, event = open_or_update(current, d)
        if current is None and not await _insert_alert(conn, alert):
            return 0  # a replay of the detection that opened an alert now resolved
        if not await _insert_event(conn, event):
            return 0  # already recorded: a redelivery
        if current is not None:
            await _update_alert(conn, alert)
        return 1


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


async def _insert_event(conn: AsyncConnection[Any], e: AlertEvent) -> bool:
    cur = await conn.execute(
        """
        INSERT INTO alert_events (event_id, alert_id, patient_id, kind, at, payload)
        VALUES (%s, %s, %s, %s, %s, %s)
        ON CONFLICT (event_id) DO NOTHING
        """,
        (e.event_id, e.alert_id, e.patient_id, e.kind.value, e.at, Jsonb(e.payload)),
    )
    return cur.rowcount == 1


async def _update_alert(conn: AsyncConnection[Any], a: Alert) -> None:
    await conn.execute(
        """
        UPDATE alerts
           SET last_value = %s, worst_value = %s, count = %s, last_seen_at = %s, updated_at = now()
         WHERE id = %s
        """,
        (a.last_value, a.worst_value, a.count, a.last_seen_at, a.id),
    )
