"""SQL shared by the alert writers (the pipeline's episodes, people's actions, the timers).

Every writer takes the same transaction-scoped advisory lock before its first alert-event insert
and before any alert row lock, so `alert_events.seq` follows commit order and writers never
deadlock on each other's row locks.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from alerts._alert_row import VIEW_COLUMNS, AlertRow
from alerts.episodes import Alert
from alerts.escalation import Escalation
from stream.detections import Detection

EVENTS_CHANNEL = "vigil_alert_events"
DEADLINES_CHANNEL = "vigil_deadlines"
OUTBOX_CHANNEL = "vigil_outbox"
EVENT_ORDER_LOCK = 0x5649_4749_4C45  # any constant shared by every alert writer

_VIEW = ", ".join(VIEW_COLUMNS)


async def lock_alert_writes(conn: AsyncConnection[Any]) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (EVENT_ORDER_LOCK,))


DETECTION_COLUMNS = (
    "id, patient_id, rule_id, kind, severity, late, device_id, seq, metric, value,"
    " unit, measured_at, details, rule_version"
)
EPISODE_NAMES = ("id", "patient_id", "rule_id", "title", "severity", "status", "metric", "unit",
                 "worse", "first_value", "last_value", "worst_value", "count", "opened_at",
                 "last_seen_at")  # fmt: skip
EPISODE_COLUMNS = ", ".join(EPISODE_NAMES)  # alerts.episodes.Alert's fields


def detection_values(d: Detection) -> tuple[Any, ...]:
    """A detection's values in `DETECTION_COLUMNS` order."""
    return (d.id, d.patient_id, d.rule_id, d.kind.value, d.severity.value, d.late, d.device_id,
            d.seq, d.metric, d.value, d.unit, d.measured_at, Jsonb(dict(d.details)),
            d.rule_version)  # fmt: skip


def episode_values(a: Alert) -> tuple[Any, ...]:
    """An episode's values in `EPISODE_NAMES` order."""
    return (a.id, a.patient_id, a.rule_id, a.title, a.severity.value, a.status.value, a.metric,
            a.unit, a.worse.value, a.first_value, a.last_value, a.worst_value, a.count,
            a.opened_at, a.last_seen_at)  # fmt: skip


EventRow = tuple[uuid.UUID, str, datetime, dict[str, Any], str]  # id, kind, at, payload, actor


async def insert_events(conn: AsyncConnection[Any], alert: AlertRow, rows: list[EventRow]) -> None:
    """Insert alert events in order, in one round trip; `alert` is the alert after the change
    (its tier scopes the feed). A known event id is a replay and is skipped."""
    async with conn.cursor() as cur:
        await cur.executemany(INSERT_EVENT, event_params(alert, rows))


INSERT_EVENT = (
    "INSERT INTO alert_events (event_id, alert_id, patient_id, kind, at, payload, actor, tier)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (event_id) DO NOTHING"
)


def event_params(alert: AlertRow, rows: list[EventRow]) -> list[tuple[Any, ...]]:
    """`INSERT_EVENT`'s parameters: each payload merged with the alert's view."""
    view = alert.as_json()
    return [(event_id, alert.id, alert.patient_id, kind, at,
             Jsonb({**payload, **view, "actor": actor}), actor, int(alert.tier))
            for event_id, kind, at, payload, actor in rows]  # fmt: skip


async def save_escalation(
    conn: AsyncConnection[Any],
    alert_id: uuid.UUID,
    state: Escalation,
    state_json: dict[str, Any],
    changes: dict[str, Any],
) -> AlertRow:
    """Store the machine's state (and extra column changes) and return the alert as stored."""
    columns = escalation_columns(state, state_json, changes)
    columns["escalation"] = Jsonb(state_json)
    deadline = columns["deadline"]
    sets = ", ".join(f"{name} = %({name})s" for name in columns)
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        f"UPDATE alerts SET {sets}, updated_at = now() WHERE id = %(_id)s RETURNING {_VIEW}",
        {**columns, "_id": alert_id},
    )
    row = await cur.fetchone()
    if row is None:
        raise LookupError(f"alert {alert_id} vanished inside its own transaction")
    if deadline is not None:
        await conn.execute(
            "SELECT pg_notify(%s, %s)",
            (DEADLINES_CHANNEL, deadline_note(alert_id, state)),
        )
    return AlertRow.from_row(row)


def escalation_columns(
    state: Escalation, state_json: dict[str, Any], changes: dict[str, Any]
) -> dict[str, Any]:
    """The alert's columns that follow the machine's state (`escalation`: its JSON)."""
    deadline = datetime.fromtimestamp(state.deadline, tz=UTC) if state.deadline else None
    status = "resolved" if state.resolved else "acknowledged" if state.acknowledged_by else "open"
    return {"escalation": state_json, "tier": int(state.tier),
            "due": state.due.value if state.due else None, "deadline": deadline,
            "fence": state.fence, "status": status, "dangerous": state.dangerous,
            "outcome": state.outcome.value if state.outcome else None, **changes}  # fmt: skip


def deadline_note(alert_id: uuid.UUID, state: Escalation) -> str:
    """The `DEADLINES_CHANNEL` payload that arms the timer of a transition with a deadline."""
    return f"{alert_id} {state.fence} {state.deadline!r}"


async def insert_message(
    conn: AsyncConnection[Any],
    message_id: uuid.UUID,
    alert: AlertRow,
    template: str,
    lang: str,
    body: str,
) -> None:
    await conn.execute(
        "INSERT INTO patient_messages (id, alert_id, patient_id, template, lang, body)"
        " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
        (message_id, alert.id, alert.patient_id, template, lang, body),
    )
    await conn.execute("SELECT pg_notify(%s, '')", (OUTBOX_CHANNEL,))


async def insert_pages(
    conn: AsyncConnection[Any],
    alert: AlertRow,
    staff_ids: tuple[str, ...],
    backup: bool,
    fence: int,
    at: datetime,
    tier: int,
) -> None:
    rows = [(alert.id, tier, s, backup, fence, at) for s in staff_ids or (None,)]
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO pages (alert_id, tier, staff_id, backup, fence, at)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            rows,
        )


async def insert_audit(
    conn: AsyncConnection[Any],
    at: datetime,
    actor: str,
    role: str,
    action: str,
    alert: AlertRow,
) -> None:
    """The audit-log row of an alert action, in the action's own transaction (DESIGN 6)."""
    await conn.execute(
        "INSERT INTO audit_log (at, actor, role, action, resource, patient_id, detail)"
        " VALUES (%s, %s, %s, %s, 'alert', %s, %s)",
        (at, actor, role, action, alert.patient_id, Jsonb({"alert_id": str(alert.id)})),
    )
