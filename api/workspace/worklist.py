"""The worklist (issue 10, part 2): one row per open alert of the caller's teams at the tiers
their role watches (api.feed.ROLE_TIERS, the live feed's own scope), most urgent first
(severity, then deadline), with the feed's seq at the same snapshot.

Must not: hold SQL (api.queries.worklist) or render.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from psycopg_pool import AsyncConnectionPool

from api.access import check_team
from api.auth import Principal
from api.errors import ForbiddenError
from api.feed import Scope
from api.queries import audit
from api.queries import worklist as q

MAX_ROWS = 5000


@dataclass(frozen=True, slots=True)
class Worklist:
    """The snapshot, its rows as the query's own typed columns (`models.WorklistRow` is their
    schema). Not re-validated into models: for 2,000 rows that was a third of the worklist's
    server time (bench ui); tests check the JSON against the schema instead."""

    seq: int  # the live feed's seq at this snapshot
    at: datetime
    tiers: list[int]
    items: list[dict[str, Any]]
    truncated: bool

    def json(self) -> bytes:
        return orjson.dumps({"seq": self.seq, "at": self.at, "tiers": self.tiers,
                             "items": self.items, "truncated": self.truncated})  # fmt: skip


@dataclass(frozen=True, slots=True)
class WorklistFilter:
    team_id: str | None = None
    tier: int | None = None
    severity: str | None = None
    mine: bool = False
    limit: int = MAX_ROWS
    alert_id: uuid.UUID | None = None  # one alert's row, if it is on this worklist


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
    return q.WorklistQuery(teams, tiers, f.severity, mine, f.limit + 1, f.alert_id), watched


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
    return Worklist(seq, now, watched, rows[: f.limit], len(rows) > f.limit)
