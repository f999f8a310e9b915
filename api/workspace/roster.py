"""A care team's roster as its staff see it (issue 10, part 5): the weekly shifts, the overrides
not yet ended, the backups, who is on call now per tier (alerts.roster.on_call, the answer the
pager uses), and the team's members with their names. Read by `GET /teams/{id}/roster` and the
roster page alike; another team is "not found".

Must not: hold SQL (api.queries.*), edit the roster (the REST endpoints do) or render.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg_pool import AsyncConnectionPool

from alerts.escalation import Tier
from alerts.roster import ROLE_FOR_TIER, on_call
from alerts.roster_store import load_roster
from api.access import STAFF, allow, check_team
from api.auth import Principal
from api.queries import colleagues, patients
from api.queries import rosters as q
from api.schemas import OnCallTier, Roster, RosterOverride, Shift


@dataclass(frozen=True, slots=True)
class Member:
    id: str
    name: str
    role: str


async def team_roster(
    pool: AsyncConnectionPool, caller: Principal, team_id: str, at: datetime
) -> tuple[Roster, list[Member]]:
    allow(caller, STAFF)
    check_team(caller, team_id)
    async with pool.connection() as conn:
        shifts = await q.shifts(conn, team_id)
        overrides = await q.overrides(conn, team_id, at)
        backups = await q.backups(conn, team_id)
        roster = await load_roster(conn, team_id, at)
        members = await colleagues.of_team(conn, team_id)
    tiers = []
    for tier in (Tier.NURSE, Tier.DOCTOR):
        who = on_call(roster, tier, at)
        tiers.append(OnCallTier(tier=int(tier), role=ROLE_FOR_TIER[tier].value,
                                primary=list(who.primary), backup=list(who.backup)))  # fmt: skip
    found = Roster(team_id=team_id, at=at, backups=backups, on_call=tiers,
                   shifts=[Shift.model_validate(s) for s in shifts],
                   overrides=[RosterOverride.model_validate(o) for o in overrides])  # fmt: skip
    return found, [Member(m["id"], m["name"], m["role"]) for m in members]


@dataclass(frozen=True, slots=True)
class TeamView:
    id: str
    name: str
    tz: str
    roster: Roster
    members: list[Member]


async def my_rosters(pool: AsyncConnectionPool, caller: Principal, at: datetime) -> list[TeamView]:
    """The roster of each of the caller's teams, in the teams' order."""
    allow(caller, STAFF)
    async with pool.connection() as conn:
        teams = await patients.teams(conn, sorted(caller.team_ids))
    out = []
    for team in teams:
        roster, members = await team_roster(pool, caller, team["id"], at)
        out.append(TeamView(team["id"], team["name"], team["tz"], roster, members))
    return out
