"""Program KPIs over REST (issue 13, part 2): `GET /teams/{team_id}/kpis?from=&to=` as JSON, or
`format=csv` (or `/kpis.csv`) as a download. For the team's staff (nurses, doctors and the
program admins of the team); another team is "not found", patients and devices are refused.
The period is UTC dates, both included, the last 30 days by default.

Must not: compute a figure (reports.kpis) or hold SQL (reports.kpi_queries).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api.access import STAFF, Caller, Pool, allow, check_team
from api.errors import InvalidRequestError
from api.routes._common import now
from reports import kpi_queries, kpis

router = APIRouter(tags=["program KPIs"])

From = Annotated[date | None, Query(alias="from", description="first UTC date (included)")]
To = Annotated[date | None, Query(alias="to", description="last UTC date (included), or today")]


def period(start: date | None, end: date | None, today: date) -> kpis.Period:
    """The requested period; 30 days ending `end` (or today) when `from` is missing."""
    last = end or today
    try:
        return kpis.Period(start, last) if start else kpis.Period.last(last)
    except (ValueError, OverflowError) as e:  # backwards, too long, or off the calendar
        raise InvalidRequestError(str(e)) from e


async def _kpis(
    request: Request, team_id: str, caller: Caller, pool: Pool, start: date | None,
    end: date | None,
) -> kpis.Kpis:  # fmt: skip
    allow(caller, STAFF)
    check_team(caller, team_id)
    chosen = period(start, end, now(request).date())
    return await kpi_queries.team_kpis(pool, team_id, chosen, request.app.state.clock)


def as_csv(result: kpis.Kpis) -> Response:
    name = f"kpis-{result.team_id}-{result.period.start}-{result.period.end}.csv"
    return Response(kpis.to_csv(result), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})  # fmt: skip


_JSON_OR_CSV: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {"schema": {"type": "object"}}, "text/csv": {}},
          "description": "the team's KPIs (reports.kpis), or their CSV with format=csv"},
}  # fmt: skip
_CSV: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {}}, "description": "one `figure,value` row per figure"}
}


@router.get("/teams/{team_id}/kpis", response_model=None, responses=_JSON_OR_CSV)
async def team_kpis(
    request: Request,
    team_id: str,
    caller: Caller,
    pool: Pool,
    start: From = None,
    end: To = None,
    format: Literal["json", "csv"] = "json",
) -> dict[str, Any] | Response:
    result = await _kpis(request, team_id, caller, pool, start, end)
    return as_csv(result) if format == "csv" else result.as_json()


@router.get("/teams/{team_id}/kpis.csv", response_class=Response, responses=_CSV)
async def team_kpis_csv(
    request: Request, team_id: str, caller: Caller, pool: Pool, start: From = None, end: To = None
) -> Response:
    return as_csv(await _kpis(request, team_id, caller, pool, start, end))
