"""The patients list and the patient page (issue 10, part 4).

- `/patients`: my teams' patients, sortable (`sort`, `page`), searchable by a form posted to
  `/patients` (part of a name or id: a name never goes into a URL), with the last reading,
  latest vitals and open alerts (api.workspace.caseload).
- `/patients/{id}`: the header, the charts of one range (`range`: 24h, 7d, 30d, 90d) for blood
  pressure, glucose, weight, SpO2 and heart rate with the thresholds in effect and the targets
  (api.workspace.charts, drawn by static/js/patient.js), the alert history with outcomes, the
  tier-1 messages with their delivery state, and the silences (api.workspace.patient); links
  to the summary report (api.routes.reports) for 14, 30 and 90 days in the viewer's language.
  Another team's patient, or no such patient, is the 404 page.

Must not: hold domain logic or SQL (api.workspace reads, api.web.patient_views shapes).
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import parse_qs

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.access import check_csrf, current_session
from api.errors import NotFoundError
from api.web import format as fmt
from api.web import patient_views as pv
from api.web.pages import to_signin
from api.web.render import catalog, page
from api.web.viewer import current
from api.workspace import caseload, charts, patient
from reports.summary import PERIODS_DAYS

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 100
Range = Literal["24h", "7d", "30d", "90d"]
Sort = Literal["risk", "severity", "last_reading", "open_alerts", "name"]


@router.get("/patients", response_class=HTMLResponse)
async def patients_page(
    request: Request,
    sort: Sort = "risk",
    page_no: Annotated[int, Query(alias="page", ge=1, le=1000)] = 1,
) -> Response:
    return await _list(request, None, sort, page_no)


@router.post("/patients", response_class=HTMLResponse)
async def search_patients(request: Request) -> Response:
    """The search form posts (with the CSRF token): a typed name never goes into a URL."""
    view = await current_session(request)
    if view is None:
        return to_signin(request)
    await check_csrf(request, view)
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    q = (form.get("q") or [""])[0].strip()[:100] or None
    sort = (form.get("sort") or ["risk"])[0]
    return await _list(request, q, sort if sort in pv.SORTS else "risk", 1)


async def _list(request: Request, q: str | None, sort: str, page_no: int) -> Response:
    viewer = await current(request)
    if viewer is None:
        return to_signin(request)
    now = request.app.state.clock()
    f = caseload.CaseloadFilter(search=q, sort=sort, limit=PAGE_SIZE,
                                offset=(page_no - 1) * PAGE_SIZE)  # fmt: skip
    found = await caseload.caseload(request.app.state.pool, viewer.principal, f, now)
    t = catalog(request, viewer.locale)
    rows = [pv.list_row(r, t, viewer.tz, now) for r in found.items]
    pages = max(1, -(-found.total // PAGE_SIZE))
    return page(request, "patients.html", viewer.locale, viewer, active_nav="nav.patients",
                rows=rows, total=found.total, q=q or "", sort=sort, sorts=pv.SORTS,
                vitals=[key for key, _ in pv.VITALS], page_no=page_no, pages=pages,
                show_risk=any(r.risk_tier for r in rows))  # fmt: skip


@router.get("/patients/{patient_id}", response_class=HTMLResponse)
async def patient_page(request: Request, patient_id: str, range: Range = "7d") -> Response:
    viewer = await current(request)
    if viewer is None:
        return to_signin(request)
    now = request.app.state.clock()
    try:
        found = await patient.overview(request.app.state.pool, viewer.principal, patient_id, now)
        reqs = [charts.ChartRequest(chart=key, range=range) for key in pv.CHART_ORDER]
        drawn = await charts.many(request.app.state.pool, viewer.principal, patient_id, reqs,
                                  now)  # fmt: skip
    except NotFoundError:
        return page(request, "not_found.html", viewer.locale, viewer, status_code=404)
    t = catalog(request, viewer.locale)
    head = found.patient
    return page(
        request, "patient.html", viewer.locale, viewer, active_nav="nav.patients",
        p=head, tz_differs=fmt.zone(head.tz).key != fmt.zone(viewer.tz).key,
        range=range, ranges=pv.RANGES,
        charts=[pv.chart_data(c, t) for c in drawn],
        alerts=pv.alert_rows(found.alerts, t, viewer.tz, head.tz),
        messages=pv.message_rows(found.messages, t, viewer.tz, now),
        silences=found.silences,
        report_days=PERIODS_DAYS,
        report_href=request.app.url_path_for("patient_report", patient_id=head.id),
    )  # fmt: skip
