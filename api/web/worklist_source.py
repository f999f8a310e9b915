"""SEAM: where the worklist's rows come from. Swap this module's body for the `webdata` branch's
worklist query (one SQL statement, ordered in the database) when it lands; the page and its
fragment endpoint only call `load` and `one`.

INTERIM: the REST API's own alert queries (api.queries.alerts) per status, patient names and
staff names looked up afterwards, scoped to the viewer's teams and the tiers their role watches
(api.feed.ROLE_TIERS). Every load is audited like a REST read.

Must not: hold SQL of its own (api.web imports no database library) or format anything.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from api.feed import ROLE_TIERS
from api.queries import alerts as qa
from api.queries import audit, colleagues
from api.queries import patients as qp
from api.web.viewer import Viewer

OPEN_STATUSES = ("open", "acknowledged")
PAGE = 500


@dataclass(frozen=True, slots=True)
class Filters:
    """The worklist's filters (query parameters of `/`: no PHI)."""

    team: str | None = None
    tier: int | None = None
    severity: str | None = None
    mine: bool = False

    def keeps(self, row: dict[str, Any], team_id: str, me: str) -> bool:
        return (
            (self.team is None or team_id == self.team)
            and (self.tier is None or row["tier"] == self.tier)
            and (self.severity is None or row["severity"] == self.severity)
            and (not self.mine or row["assigned_to"] == me)
        )


def _in_scope(viewer: Viewer, row: dict[str, Any]) -> bool:
    return row["status"] in OPEN_STATUSES and row["tier"] in ROLE_TIERS.get(viewer.role, ())


async def _enrich(conn: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each row with `patient` (the patient's record) and `assignee_name`."""
    patients = {pid: await qp.get(conn, pid) for pid in {r["patient_id"] for r in rows}}
    names = await colleagues.names(conn, (r["assigned_to"] for r in rows))
    return [{**r, "patient": patients[r["patient_id"]],
             "assignee_name": names.get(r["assigned_to"] or "", r["assigned_to"])}
            for r in rows if patients[r["patient_id"]] is not None]  # fmt: skip


async def load(pool: Any, viewer: Viewer, f: Filters, now: datetime) -> list[dict[str, Any]]:
    """The viewer's open alerts that pass the filters, unordered (api.web.views orders them)."""
    teams = sorted(viewer.principal.team_ids)
    async with pool.connection() as conn, conn.transaction():
        rows: list[dict[str, Any]] = []
        for status in OPEN_STATUSES:
            rows += await qa.page(conn, qa.AlertFilter(teams, None, status=status), PAGE)
        rows = [r for r in rows if _in_scope(viewer, r)]
        rows = await _enrich(conn, rows)
        rows = [r for r in rows if f.keeps(r, r["patient"]["team_id"], viewer.staff_id)]
        await audit.record(conn, viewer.principal, now, "list", "worklist",
                           (r["patient_id"] for r in rows))  # fmt: skip
    return rows


async def one(
    pool: Any, viewer: Viewer, alert_id: uuid.UUID, f: Filters, now: datetime
) -> dict[str, Any] | None:
    """One worklist row, or None when the alert is not (or no longer) on the viewer's list."""
    async with pool.connection() as conn, conn.transaction():
        row = await qa.get(conn, alert_id)
        if row is None or row["team_id"] not in viewer.principal.team_ids:
            return None
        if not _in_scope(viewer, row) or not f.keeps(row, row["team_id"], viewer.staff_id):
            return None
        enriched = await _enrich(conn, [row])
        await audit.record(conn, viewer.principal, now, "read", "worklist_row",
                           [row["patient_id"]], {"alert_id": str(alert_id)})  # fmt: skip
    return enriched[0] if enriched else None


async def team_names(pool: Any, viewer: Viewer) -> list[dict[str, Any]]:
    async with pool.connection() as conn:
        return await qp.teams(conn, sorted(viewer.principal.team_ids))
