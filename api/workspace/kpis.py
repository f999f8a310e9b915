"""A team's program KPIs as the workspace shows them (issue 13, part 2): the teams the signed-in
staff member belongs to, the chosen one (the first by default) and its figures for the period.
Read by the KPI page; the REST endpoint reads reports.kpi_queries directly.

Must not: hold SQL (api.queries.*, reports.kpi_queries), compute figures (reports.kpis) or render.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg_pool import AsyncConnectionPool

from api.access import STAFF, allow, check_team
from api.auth import Principal
from api.queries import patients
from reports import kpi_queries
from reports.kpis import Kpis, Period


@dataclass(frozen=True, slots=True)
class TeamKpis:
    teams: list[dict[str, Any]]  # id, name, tz of each of my teams
    team_id: str | None  # None: I belong to no team
    kpis: Kpis | None


async def my_team_kpis(
    pool: AsyncConnectionPool,
    caller: Principal,
    team_id: str | None,
    period: Period,
    clock: Callable[[], datetime],
) -> TeamKpis:
    """`team_id` (another team is "not found") or my first team, over `period`."""
    allow(caller, STAFF)
    async with pool.connection() as conn:
        teams = await patients.teams(conn, sorted(caller.team_ids))
    chosen = team_id or (teams[0]["id"] if teams else None)
    if chosen is None:
        return TeamKpis(teams, None, None)
    check_team(caller, chosen)
    return TeamKpis(teams, chosen, await kpi_queries.team_kpis(pool, chosen, period, clock))
