"""Everything the alert page shows, read in one transaction through the API's query modules and
audited like the REST API's alert read: the alert (scoped to the viewer's teams: another team's
alert is "not found"), its events, its patient, the team's staff, and the readings of its metric
around it.

Must not: hold SQL of its own (api.web imports no database library) or shape anything for the
page (api.web.chart and the template do).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from api.queries import alerts as qa
from api.queries import audit, colleagues
from api.queries import patients as qp
from api.queries import readings as qr
from api.web.viewer import Viewer

BEFORE = timedelta(hours=12)  # readings shown before the alert opened
AFTER = timedelta(hours=2)  # and after it was last seen (or up to now)
MAX_POINTS = 2000


@dataclass(frozen=True, slots=True)
class AlertPage:
    alert: dict[str, Any]
    events: list[dict[str, Any]]
    patient: dict[str, Any]
    staff: list[dict[str, Any]]  # the patient's team: id, name, role
    names: dict[str, str]  # staff id -> name, for events and the assignee
    readings: list[dict[str, Any]]  # oldest first


async def load(pool: Any, viewer: Viewer, alert_id: uuid.UUID, now: datetime) -> AlertPage | None:
    async with pool.connection() as conn, conn.transaction():
        alert = await qa.get(conn, alert_id)
        if alert is None or alert["team_id"] not in viewer.principal.team_ids:
            return None
        events = await qa.events(conn, alert_id)
        patient = await qp.get(conn, alert["patient_id"])
        staff = await colleagues.of_team(conn, alert["team_id"])
        people = [alert["assigned_to"], alert["acknowledged_by"], alert["resolved_by"]]
        names = await colleagues.names(conn, [*people, *(e["actor"] for e in events)])
        readings = await _readings(conn, alert, now)
        detail = {"alert_id": str(alert_id), "events": len(events), "page": True}
        await audit.record(conn, viewer.principal, now, "read", "alert", [alert["patient_id"]],
                           detail)  # fmt: skip
    if patient is None:
        return None
    return AlertPage(alert, events, patient, staff, names, readings)


async def _readings(conn: Any, alert: dict[str, Any], now: datetime) -> list[dict[str, Any]]:
    if not alert["metric"] or alert["metric"] == "news2":
        return []
    until = min(alert["last_seen_at"] + AFTER, now)
    rows = await qr.page(conn, alert["patient_id"], metric=alert["metric"],
                         since=alert["opened_at"] - BEFORE, until=until, after=None,
                         limit=MAX_POINTS)  # fmt: skip
    return rows[::-1]
