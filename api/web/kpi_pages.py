"""The program KPI page (issue 13, part 2): one of my teams' KPIs for a period chosen on the
page (last 7 / 30 / 90 days, or from/to dates), as tables, with a CSV download of the same
figures (the REST endpoint /api/v1/teams/<id>/kpis.csv, which the session cookie authorises).

Must not: hold domain logic or SQL (api.workspace.kpis reads, api.web.kpi_views words).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from api.errors import NotFoundError
from api.web import kpi_views as kv
from api.web.pages import to_signin
from api.web.render import catalog, page
from api.web.viewer import current
from api.workspace.kpis import my_team_kpis

router = APIRouter(include_in_schema=False)


@router.get("/kpis", response_class=HTMLResponse)
async def kpi_page(
    request: Request, team: str = "", start: str = "", end: str = "", days: str = ""
) -> Response:
    viewer = await current(request)
    if viewer is None:
        return to_signin(request)
    clock = request.app.state.clock
    period = kv.chosen_period(start, end, days, clock().date())
    try:
        found = await my_team_kpis(request.app.state.pool, viewer.principal, team or None,
                                   period, clock)  # fmt: skip
    except NotFoundError:  # another team's KPIs: the page of "not found", as for a patient
        return page(request, "not_found.html", viewer.locale, viewer, status_code=404)
    t = catalog(request, viewer.locale)
    figures = found.kpis.as_json() if found.kpis else None
    return page(request, "kpis.html", viewer.locale, viewer, active_nav="nav.kpis",
                teams=found.teams, team_id=found.team_id, period=period, presets=kv.PRESETS,
                patients=kv.patients(t, figures) if figures else [],
                alerts=kv.alerts(t, figures) if figures else None,
                response=kv.response(t, figures) if figures else None)  # fmt: skip
