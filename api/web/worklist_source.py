"""Where the worklist page's rows come from: the workspace's worklist (api.workspace.worklist:
one SQL statement ordered in the database, audited, scoped to the viewer's teams and the tiers
their role watches, with the live feed's seq from the same snapshot, so the page resumes the
websocket after it missing nothing). `one` is the single row the page script re-fetches when a
feed event names an alert: the same query, scope and filters, narrowed to that alert.

Rows come back in the shape api.web.views takes: with `patient` (name, zone, team).

Must not: hold SQL of its own (api.web imports no database library) or format anything.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from api.queries import patients as qp
from api.web.viewer import Viewer
from api.workspace.worklist import WorklistFilter, worklist

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

    def query(self, viewer: Viewer, alert_id: uuid.UUID | None = None) -> WorklistFilter:
        team = self.team if self.team in viewer.principal.team_ids else None  # else: all mine
        return WorklistFilter(team_id=team, tier=self.tier, severity=self.severity,
                              mine=self.mine, alert_id=alert_id)  # fmt: skip


def _shaped(row: dict[str, Any]) -> dict[str, Any]:
    patient = {"display_name": row["patient_name"], "tz": row["patient_tz"],
               "team_id": row["team_id"]}  # fmt: skip
    return {**row, "patient": patient}


async def load(
    pool: Any, viewer: Viewer, f: Filters, now: datetime
) -> tuple[int, list[dict[str, Any]]]:
    """The feed seq of the snapshot and the viewer's open alerts passing the filters."""
    found = await worklist(pool, viewer.principal, f.query(viewer), now)
    return found.seq, [_shaped(r) for r in found.items]


async def one(
    pool: Any, viewer: Viewer, alert_id: uuid.UUID, f: Filters, now: datetime
) -> dict[str, Any] | None:
    """One worklist row, or None when the alert is not (or no longer) on the viewer's list."""
    found = await worklist(pool, viewer.principal, f.query(viewer, alert_id), now)
    return _shaped(found.items[0]) if found.items else None


async def team_names(pool: Any, viewer: Viewer) -> list[dict[str, Any]]:
    async with pool.connection() as conn:
        return await qp.teams(conn, sorted(viewer.principal.team_ids))
