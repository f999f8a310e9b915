"""The alert detail page: the alert, its events (who did what, when), a chart of the readings
around it with the rule table's thresholds, and a form for every action. The forms are sent to
the REST API (/api/v1/alerts/<id>/<action>) by static/js/alert.js with the X-CSRF-Token header;
a refused action shows the API's reason.

Another team's alert, or no such alert, answers 404 (the same page either way).

Must not: hold domain logic or SQL (api.web.alert_source reads, api.web.views shapes).
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from api.web import alert_source, chart, views
from api.web import format as fmt
from api.web.pages import to_signin
from api.web.render import catalog, page
from api.web.viewer import current

router = APIRouter(include_in_schema=False)


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
async def alert_page(request: Request, alert_id: uuid.UUID) -> Response:
    viewer = await current(request)
    if viewer is None:
        return to_signin(request)
    now = request.app.state.clock()
    found = await alert_source.load(request.app.state.pool, viewer, alert_id, now)
    t = catalog(request, viewer.locale)
    if found is None:
        return page(request, "not_found.html", viewer.locale, viewer, status_code=404)
    a, patient = found.alert, found.patient
    assignee = found.names.get(a["assigned_to"] or "")
    row = views.row({**a, "patient": patient, "assignee_name": assignee},
                    t, viewer.tz, viewer.staff_id, now, role=viewer.role)  # fmt: skip
    return page(
        request, "alert.html", viewer.locale, viewer, active_nav="nav.worklist",
        a=a, r=row, patient=patient,
        worst=fmt.value(a["metric"], a["unit"], a["worst_value"]),
        events=views.event_rows(found.events, found.names, t, viewer.tz, patient["tz"]),
        staff=[s for s in found.staff if s["id"] != viewer.staff_id],
        offered=views.offered(a, viewer.role),
        outcomes=views.OUTCOMES, callback_outcomes=views.CALLBACK_OUTCOMES,
        snooze_minutes=views.SNOOZE_MINUTES,
        chart=chart.data(found.readings, a["metric"], a, t),
    )  # fmt: skip
