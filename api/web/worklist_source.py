"""Where the worklist page's rows come from: `load` is the workspace's worklist
(api.workspace.worklist: one SQL statement ordered in the database, audited, with the live feed's
seq from the same snapshot, so the page resumes the websocket after it missing nothing); `one` is
the single row the page script re-fetches when a feed event names an alert, read through the REST
API's alert query and scoped the same way (teams, the tiers the role watches, the filters).
Rows come back in the shape api.web.views takes: with `patient` (name, zone, team) and
`assignee_name`.

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
from api.workspace.worklist import WorklistFilter, worklist

OPEN_STATUSES = ("open", "acknowledged")
SEVERITIES = ("critical", "high", "moderate", "info")


@dataclass(frozen=True, slots=True)
class Filters:
    """The worklist's filters (query parameters of `/`: no PHI)."""

    team: str | None = None
    tier: int | None = None
    severity: str | None = None
    mine: bool = False

    @classmethod
    def parse(cls, team: str, tier: str, severity: str, mine: bool) -> Filters:
        """From the filter form's fields: an empty or unknown value means "all"."""
        return cls(
            team=team or None,
            tier=int(tier) if tier in ("1", "2", "3") else None,
            severity=severity if severity in SEVERITIES else None,
            mine=mine,
        )

    def keeps(self, row: dict[str, Any], team_id: str, me: str) -> bool:
        return (
            (self.team is None or team_id == self.team)
            and (self.tier is None or row["tier"] == self.tier)
            and (self.severity is None or row["severity"] == self.severity)
            and (not self.mine or _mine(row, me))
        )


def _mine(row: dict[str, Any], me: str) -> bool:
    """Assigned to me, or acknowledged by me and assigned to nobody (as the worklist query)."""
    return bool(row["assigned_to"] == me or (row["assigned_to"] is None
                                              and row.get("acknowledged_by") == me))  # fmt: skip


def _in_scope(viewer: Viewer, row: dict[str, Any]) -> bool:
    return row["status"] in OPEN_STATUSES and row["tier"] in ROLE_TIERS.get(viewer.role, ())


async def _enrich(conn: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each row with `patient` (the patient's record) and `assignee_name`."""
    patients = {pid: await qp.get(conn, pid) for pid in {r["patient_id"] for r in rows}}
    names = await colleagues.names(conn, (r["assigned_to"] for r in rows))
    return [{**r, "patient": patients[r["patient_id"]],
             "assignee_name": names.get(r["assigned_to"] or "", r["assigned_to"])}
            for r in rows if patients[r["patient_id"]] is not None]  # fmt: skip


async def load(
    pool: Any, viewer: Viewer, f: Filters, now: datetime
) -> tuple[int, list[dict[str, Any]]]:
    """The feed seq of the snapshot and the viewer's open alerts passing the filters."""
    team = f.team if f.team in viewer.principal.team_ids else None  # another team's: all mine
    wf = WorklistFilter(team_id=team, tier=f.tier, severity=f.severity, mine=f.mine)
    found = await worklist(pool, viewer.principal, wf, now)
    async with pool.connection() as conn:
        names = await colleagues.names(conn, (r["assigned_to"] for r in found.items))
    rows = [{**r, "patient": {"display_name": r["patient_name"], "tz": r["patient_tz"],
                              "team_id": r["team_id"]},
             "assignee_name": names.get(r["assigned_to"] or "", r["assigned_to"])}
            for r in found.items]  # fmt: skip
    return found.seq, rows


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
