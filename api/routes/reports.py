"""The patient summary report (issue 13, part 1): `GET /patients/{id}/report?days=30&lang=zh&
format=pdf|html`, for staff of the patient's team and for the patient themselves (another
team's patient, or no such patient: 404). A PHI read: audited in the transaction that reads the
data; answered with `Cache-Control: no-store`. The figures and drawing are reports.summary and
reports.render, run in a worker thread (matplotlib and WeasyPrint are CPU-bound and would stall
the event loop), at most `REPORTS_AT_ONCE` at a time per process (more threads would only
share the GIL with the event loop and slow the live feed); the HTML links its style sheet
(`/reports/report.css`), because the workspace's Content-Security-Policy refuses inline styles.

Must not: compute figures or hold SQL (reports.summary_queries reads).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api.access import PHI_READERS, Caller, Pool, allow
from api.errors import InvalidRequestError, NotFoundError
from api.queries import audit
from api.routes._common import now, visible_patient
from api.web.render import catalog
from reports import render
from reports.summary import PERIODS_DAYS, ReportData, summarise
from reports.summary_queries import load

router = APIRouter(tags=["reports"])

CSS_PATH = "/reports/report.css"
REPORTS_AT_ONCE = 2  # drawn at once per process; more wait their turn (CPU-bound, GIL-bound)
_MEDIA = {"pdf": "application/pdf", "html": "text/html; charset=utf-8"}
_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"description": "the report", "content": {"application/pdf": {}, "text/html": {}}}
}


def _slots(request: Request) -> asyncio.Semaphore:
    """The app's report slots (made on the first report, on the app's own loop)."""
    slots: asyncio.Semaphore | None = getattr(request.app.state, "report_slots", None)
    if slots is None:
        slots = request.app.state.report_slots = asyncio.Semaphore(REPORTS_AT_ONCE)
    return slots


def _draw(data: ReportData, lang: str, fmt: str, rule_title: render.RuleTitle,
          css_href: str) -> bytes:  # fmt: skip
    s = summarise(data)
    if fmt == "html":
        return render.report_html(s, lang, rule_title, css_href).encode()
    return render.report_pdf(render.report_html(s, lang, rule_title))


@router.get("/patients/{patient_id}/report", response_class=Response, responses=_RESPONSES)
async def patient_report(
    request: Request,
    patient_id: str,
    caller: Caller,
    pool: Pool,
    days: Annotated[
        int,
        Query(
            description="the period ending now: 14, 30 or 90 days",
            json_schema_extra={"enum": list(PERIODS_DAYS)},
        ),
    ] = 30,
    lang: Annotated[Literal["en", "zh"], Query(description="the report's language")] = "en",
    fmt: Annotated[Literal["pdf", "html"], Query(alias="format")] = "pdf",
) -> Response:
    allow(caller, PHI_READERS)
    if days not in PERIODS_DAYS:
        raise InvalidRequestError(f"days: one of {', '.join(map(str, PERIODS_DAYS))}")
    at = now(request)
    async with pool.connection() as conn, conn.transaction():
        await visible_patient(conn, caller, patient_id)
        data = await load(conn, patient_id, days, at)
        await audit.record(conn, caller, at, "read", "report", [patient_id],
                           {"days": days, "format": fmt})  # fmt: skip
    if data is None:
        raise NotFoundError(f"no patient {patient_id}")
    css_href = str(request.app.url_path_for("report_stylesheet"))
    async with _slots(request):
        title = catalog(request, lang).title
        body = await asyncio.to_thread(_draw, data, lang, fmt, title, css_href)
    return Response(body, media_type=_MEDIA[fmt], headers={
        "Cache-Control": "no-store",
        "Content-Disposition": f'inline; filename="vigil-report-{days}d.{fmt}"',
    })  # fmt: skip


@router.get(CSS_PATH, include_in_schema=False, name="report_stylesheet")
async def report_stylesheet() -> Response:
    """The report's style sheet: no data, the same for everyone, cacheable."""
    return Response(render.stylesheet(), media_type="text/css",
                    headers={"Cache-Control": "public, max-age=3600"})  # fmt: skip
