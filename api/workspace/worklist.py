"""The worklist (issue 10, part 2): one row per open alert of the caller's teams at the tiers
their role watches (api.feed.ROLE_TIERS, the live feed's own scope), most urgent first
(severity, then deadline), with the feed's seq at the same snapshot.

Must not: hold SQL (api.queries.worklist) or render.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg_pool import AsyncConnectionPool

from api.access import check_team
from api.auth import Principal
from api.errors import ForbiddenError
from api.feed import Scope
from api.queries import audit
from api.queries import worklist as q
from api.workspace.models import Worklist, WorklistRow

MAX_ROWS = 5000


@dataclass(frozen=True, slots=True)
class WorklistFilter:
    team_id: str | None = None
    tier: int | None = None
    severity: str | None = None
    mine: bool = False
    limit: int = MAX_ROWS


def _query(caller: Principal, f: WorklistFilter) -> tuple[q.WorklistQuery, list[int]]:
    scope = Scope.of_role(caller.role, caller.team_ids)
    if scope is None:
        raise ForbiddenError(f"a {caller.role} has no worklist")
    if f.team_id is not None:
        check_team(caller, f.team_id)
    teams = [f.team_id] if f.team_id is not None else sorted(scope.team_ids)
    watched = sorted(scope.tiers)
    tiers = [t for t in watched if f.tier is None or t == f.tier]
    mine = caller.staff_id if f.mine else None
    return q.WorklistQuery(teams, tiers, f.severity, mine, f.limit + 1), watched


async def worklist(
    pool: AsyncConnectionPool, caller: Principal, f: WorklistFilter, now: datetime
) -> Worklist:
    query, watched = _query(caller, f)
    async with pool.connection() as conn, conn.transaction():
        await q.snapshot(conn)
        seq = await q.feed_seq(conn)
        rows = await q.rows(conn, query)
        await audit.record(conn, caller, now, "list", "worklist",
                           (r["patient_id"] for r in rows[: f.limit]))  # fmt: skip
    items = [WorklistRow.model_validate(r) for r in rows[: f.limit]]
    return Worklist(seq=seq, at=now, tiers=watched, items=items, truncated=len(rows) > f.limit)
