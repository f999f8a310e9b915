"""The roster page (issue 10, part 5): for each of my teams, who is on call now per tier, this
week's shifts and the overrides not yet ended. An admin edits them on the page: the forms are
sent to the roster REST endpoints (/api/v1/teams/<id>/roster/...) by static/js/roster.js with the
X-CSRF-Token header, and a refused change shows the API's reason.

Must not: hold domain logic or SQL (api.workspace.roster reads, api.web.roster_views shapes).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from api.web import roster_views as rv
from api.web.pages import to_signin
from api.web.render import catalog, page
from api.web.viewer import current
from api.workspace.roster import my_rosters

router = APIRouter(include_in_schema=False)

WEEKDAYS = range(7)  # Monday = 0, as the roster stores them


@router.get("/roster", response_class=HTMLResponse)
async def roster_page(request: Request) -> Response:
    viewer = await current(request)
    if viewer is None:
        return to_signin(request)
    now = request.app.state.clock()
    t = catalog(request, viewer.locale)
    teams = []
    for team in await my_rosters(request.app.state.pool, viewer.principal, now):
        names = {m.id: m.name for m in team.members}
        teams.append({
            "id": team.id, "name": team.name, "tz": team.tz, "members": team.members,
            "on_call": rv.on_call(team, names, t),
            "week": rv.week(team, names, t, viewer.tz, now),
            "shifts": rv.shifts(team, names, t, viewer.tz),
            "overrides": rv.overrides(team, names, t, viewer.tz),
        })  # fmt: skip
    return page(request, "roster.html", viewer.locale, viewer, active_nav="nav.roster",
                teams=teams, admin=viewer.role == "admin", weekdays=WEEKDAYS,
                at=now)  # fmt: skip
