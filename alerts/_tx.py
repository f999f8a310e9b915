"""What the alert writers do to the database, as one interface with two implementations.

The episode fold (alerts.repository) and the escalator (alerts.response) read and write alerts
only through a `Tx`, so the same code runs:

- on `DirectTx`: each call is a statement on the connection, in the caller's transaction (people's
  actions, timers, and the per-detection fallback of the pipeline's writer);
- on `alerts._batch.BatchTx`: a batch of detections is folded in memory from rows loaded in one
  round trip, and written set-based at the end (the pipeline's writer).

Must not: decide anything (episodes, escalation) or take the event-order lock (the callers do).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Protocol

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from alerts import _sql
from alerts._alert_row import AlertRow
from alerts._locked import Locked, lock
from alerts.episodes import Alert, AlertStatus
from alerts.escalation import Escalation, Tier
from alerts.roster import OnCall
from alerts.roster_store import who_to_page
from stream.detections import Detection, Severity, Worse


class Tx(Protocol):
    """The reads and writes of one alert-writing transaction (see the module docstring)."""

    async def is_new(self, d: Detection) -> bool: ...
    async def open_alert(self, patient_id: str, rule_id: str) -> Alert | None: ...
    async def insert_alert(self, a: Alert) -> None: ...
    async def update_alert(self, a: Alert) -> None: ...
    async def mark_cleared(self, alert_id: uuid.UUID, at: datetime) -> None: ...
    async def lock(self, alert_id: uuid.UUID, at: datetime) -> Locked | None: ...
    async def who_to_page(self, patient_id: str, tier: Tier, at: datetime) -> OnCall: ...
    async def insert_pages(
        self, alert: AlertRow, staff: tuple[str, ...], backup: bool, fence: int, at: datetime,
        tier: int,
    ) -> None: ...  # fmt: skip
    async def insert_message(
        self, message_id: uuid.UUID, alert: AlertRow, template: str, lang: str, body: str
    ) -> None: ...
    async def save_escalation(
        self, alert_id: uuid.UUID, state: Escalation, state_json: dict[str, Any],
        changes: dict[str, Any],
    ) -> AlertRow: ...  # fmt: skip
    async def insert_events(self, alert: AlertRow, rows: list[_sql.EventRow]) -> None: ...


class DirectTx:
    """Every call one statement (one round trip) on `conn`, in the caller's transaction."""

    def __init__(self, conn: AsyncConnection[Any]) -> None:
        self.conn = conn

    async def is_new(self, d: Detection) -> bool:
        cur = await self.conn.execute(
            f"INSERT INTO detections ({_sql.DETECTION_COLUMNS}) VALUES"
            " (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
            _sql.detection_values(d),
        )
        return cur.rowcount == 1

    async def open_alert(self, patient_id: str, rule_id: str) -> Alert | None:
        cur = self.conn.cursor(row_factory=dict_row)
        await cur.execute(
            f"SELECT {_sql.EPISODE_COLUMNS} FROM alerts"
            " WHERE patient_id = %s AND rule_id = %s AND status <> 'resolved' FOR UPDATE",
            (patient_id, rule_id),
        )
        row = await cur.fetchone()
        return None if row is None else episode(row)

    async def insert_alert(self, a: Alert) -> None:
        await self.conn.execute(
            f"INSERT INTO alerts ({_sql.EPISODE_COLUMNS}) VALUES"
            " (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (id) DO NOTHING",
            _sql.episode_values(a),
        )

    async def update_alert(self, a: Alert) -> None:
        await self.conn.execute(
            "UPDATE alerts SET last_value = %s, worst_value = %s, count = %s, last_seen_at = %s,"
            " updated_at = now(), condition_cleared_at = NULL WHERE id = %s",
            (a.last_value, a.worst_value, a.count, a.last_seen_at, a.id),
        )

    async def mark_cleared(self, alert_id: uuid.UUID, at: datetime) -> None:
        await self.conn.execute(
            "UPDATE alerts SET condition_cleared_at = %s, updated_at = now() WHERE id = %s",
            (at, alert_id),
        )

    async def lock(self, alert_id: uuid.UUID, at: datetime) -> Locked | None:
        return await lock(self.conn, alert_id, at)

    async def who_to_page(self, patient_id: str, tier: Tier, at: datetime) -> OnCall:
        return await who_to_page(self.conn, patient_id, tier, at)

    async def insert_pages(
        self, alert: AlertRow, staff: tuple[str, ...], backup: bool, fence: int, at: datetime,
        tier: int,
    ) -> None:  # fmt: skip
        await _sql.insert_pages(self.conn, alert, staff, backup, fence, at, tier)

    async def insert_message(
        self, message_id: uuid.UUID, alert: AlertRow, template: str, lang: str, body: str
    ) -> None:
        await _sql.insert_message(self.conn, message_id, alert, template, lang, body)

    async def save_escalation(
        self, alert_id: uuid.UUID, state: Escalation, state_json: dict[str, Any],
        changes: dict[str, Any],
    ) -> AlertRow:  # fmt: skip
        return await _sql.save_escalation(self.conn, alert_id, state, state_json, changes)

    async def insert_events(self, alert: AlertRow, rows: list[_sql.EventRow]) -> None:
        await _sql.insert_events(self.conn, alert, rows)


def episode(row: dict[str, Any]) -> Alert:
    """The episode (alerts.episodes.Alert) of a row holding `_sql.EPISODE_COLUMNS`."""
    values = {c: row[c] for c in _sql.EPISODE_NAMES}
    values.update(severity=Severity(row["severity"]), status=AlertStatus(row["status"]),
                  worse=Worse(row["worse"]))  # fmt: skip
    return Alert(**values)


__all__ = ["DirectTx", "Tx", "episode"]
