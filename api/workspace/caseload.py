"""The caseload (issue 10, part 4): the caller's teams' patients with last reading time, latest
value per metric, open alerts and the worst open severity; searchable by name or id, sortable.
Every patient listed is a PHI read, audited.

`risk_tier` and `risk_tags` are the care program's (program.risk); nothing here computes them.
Must not: hold SQL (api.queries.caseload) or render.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg_pool import AsyncConnectionPool

from api.access import STAFF, allow, check_team
from api.auth import Principal
from api.errors import InvalidRequestError
from api.queries import audit
from api.queries import caseload as q
from api.queries.worklist import SEVERITY_ORDER
from api.workspace.models import Caseload, CaseloadRow

# the vitals a list row shows, in the canonical metrics' names
LIST_METRICS = ("systolic_bp", "diastolic_bp", "glucose", "weight", "spo2", "heart_rate",
                "respiratory_rate", "body_temperature")  # fmt: skip


@dataclass(frozen=True, slots=True)
class CaseloadFilter:
    team_id: str | None = None
    search: str | None = None
    sort: str = "severity"
    order: str | None = None  # asc or desc; default: q.DEFAULT_DIRECTION[sort]
    limit: int = 100
    offset: int = 0


def _query(caller: Principal, f: CaseloadFilter) -> q.CaseloadQuery:
    allow(caller, STAFF)
    if f.team_id is not None:
        check_team(caller, f.team_id)
    if f.sort not in q.SORTS:
        raise InvalidRequestError(f"sort: one of {sorted(q.SORTS)}")
    order = f.order or q.DEFAULT_DIRECTION[f.sort]
    teams = [f.team_id] if f.team_id is not None else sorted(caller.team_ids)
    search = (f.search or "").strip() or None
    return q.CaseloadQuery(teams, list(LIST_METRICS), search, f.sort, order == "desc",
                           f.limit, f.offset)  # fmt: skip


def _row(r: dict[str, Any]) -> CaseloadRow:
    rank = r["worst_rank"]
    worst = SEVERITY_ORDER[rank - 1] if rank is not None else None
    return CaseloadRow.model_validate({**r, "worst_open_severity": worst})


async def caseload(
    pool: AsyncConnectionPool, caller: Principal, f: CaseloadFilter, now: datetime
) -> Caseload:
    query = _query(caller, f)
    async with pool.connection() as conn, conn.transaction():
        rows = await q.page(conn, query)
        await audit.record(conn, caller, now, "list", "caseload", (r["id"] for r in rows))
    total = int(rows[0]["total"]) if rows else 0
    return Caseload(total=total, offset=f.offset, items=[_row(r) for r in rows])
