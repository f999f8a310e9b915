"""The alert under its row lock, and the small records the escalator passes around: used by
alerts.response only. One round trip fetches the row, its team's context (language, policy, and
for a glucose alert the patient's glucose unit: alerts.glucose_units), the silence in force for
its (patient, rule) and the patient's alerts of the day before it (recurrences,
alerts.routing); the row becomes typed records here, once
(`AlertRow`, `Escalation`, `Silence`), so nothing past this module reads a raw row.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from alerts._alert_row import VIEW_COLUMNS, AlertRow
from alerts._codec import from_json
from alerts.episodes import AlertEvent
from alerts.escalation import Escalation, Silence
from alerts.glucose_units import patient_unit
from alerts.routing import RECUR_WINDOW_S, SAME_EPISODE_S, Recent


@dataclass(frozen=True, slots=True)
class Locked:
    """An alert under its row lock, with what the machine needs."""

    alert: AlertRow
    state: Escalation | None
    team_id: str
    lang: str
    team_policy: dict[str, Any] | None
    silence: Silence | None  # in force for the alert's (patient, rule)
    tz: str = "UTC"  # the patient's time zone (dates in tier-1 messages)
    recent: Recent = field(default_factory=lambda: Recent({}))  # recurrences: alerts.routing
    glucose_unit: str | None = None  # the patient's (alerts.glucose_units); None: by language


# The original unit of the patient's latest glucose reading: the unit their own device reports.
DEVICE_GLUCOSE_UNIT = (
    "(SELECT r.orig_unit FROM readings r WHERE r.patient_id = {patient}"
    " AND r.metric = 'glucose' ORDER BY r.time DESC LIMIT 1)"
)


@dataclass(frozen=True, slots=True)
class Lead:
    """The event that records the transition itself (the effects follow it)."""

    id: uuid.UUID
    kind: str
    actor: str = "system"
    payload: dict[str, Any] = field(default_factory=dict)
    at: datetime | None = None

    @classmethod
    def of(cls, e: AlertEvent) -> Lead:
        return cls(e.event_id, e.kind.value, "system", e.payload, e.at)


_DEVICE_UNIT = DEVICE_GLUCOSE_UNIT.format(patient="a.patient_id")


async def lock(conn: AsyncConnection[Any], alert_id: uuid.UUID, at: datetime) -> Locked | None:
    """The alert under its row lock, with its team's context and the silence in force at `at`
    for its (patient, rule): one round trip."""
    cur = conn.cursor(row_factory=dict_row)
    columns = ", ".join(f"a.{c}" for c in VIEW_COLUMNS)
    await cur.execute(
        f"SELECT {columns}, a.escalation, p.team_id, p.lang, p.tz, t.escalation_policy,"
        f"       p.glucose_unit, CASE WHEN a.metric = 'glucose' THEN {_DEVICE_UNIT} END"
        "        AS device_glucose_unit,"
        "       (SELECT json_build_array(extract(epoch FROM s.ends_at), s.reason)"
        "          FROM silences s WHERE s.patient_id = a.patient_id"
        "           AND (s.rule_id IS NULL OR s.rule_id = a.rule_id)"
        "           AND s.starts_at <= %(at)s AND s.ends_at > %(at)s"
        "         ORDER BY s.ends_at DESC LIMIT 1) AS silence,"
        "       (SELECT json_object_agg(r.rule_id, r.n) FROM (SELECT o.rule_id, count(*) AS n"
        "          FROM alerts o WHERE o.patient_id = a.patient_id AND o.id <> a.id"
        "           AND o.opened_at <= a.opened_at - make_interval(secs => %(same_s)s)"
        "           AND o.opened_at > a.opened_at - make_interval(secs => %(recur_s)s)"
        "         GROUP BY o.rule_id) r) AS recent"
        "  FROM alerts a JOIN patients p ON p.id = a.patient_id"
        "  JOIN care_teams t ON t.id = p.team_id"
        " WHERE a.id = %(id)s FOR UPDATE OF a",
        {"id": alert_id, "at": at, "recur_s": RECUR_WINDOW_S, "same_s": SAME_EPISODE_S},
    )
    row = await cur.fetchone()
    if row is None:
        return None
    context = ("escalation", "team_id", "lang", "tz", "escalation_policy", "silence", "recent",
               "glucose_unit", "device_glucose_unit")  # fmt: skip
    raw, team, lang, tz, policy, silence, recent, chosen, device = (row.pop(k) for k in context)
    quiet = Silence(float(silence[0]), silence[1]) if silence else None
    state = from_json(raw) if raw else None
    counts = Recent({str(k): int(v) for k, v in (recent or {}).items()})
    glucose = patient_unit(lang, device, chosen)
    return Locked(AlertRow.from_row(row), state, team, lang, policy, quiet, tz, counts, glucose)


def mirror(
    state: Escalation, before: Escalation | None, now: datetime, changes: dict[str, Any]
) -> dict[str, Any]:
    """Columns that follow the machine's state: the acknowledgement and the snooze in force."""
    mirrored: dict[str, Any] = {"acknowledged_by": state.acknowledged_by}
    if state.acknowledged_by is None:
        mirrored["acknowledged_at"] = None
    elif before is None or before.acknowledged_by != state.acknowledged_by:
        mirrored["acknowledged_at"] = now
    if state.snoozed is None:
        mirrored.update(snoozed_until=None, snooze_reason=None)
    return {**mirrored, **changes}
