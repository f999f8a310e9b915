"""REST endpoints of the clinician workspace's data (issue 10): the worklist, the caseload, a
patient's chart data and the patient page's overview. Thin: api.workspace does the work.

The answers are serialised once, by the model itself (`_json`): FastAPI's response_model path
would dump, re-validate and re-encode a 2,000-row worklist (the model is declared for OpenAPI).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import AwareDatetime, BaseModel

from api.access import Caller, Pool
from api.routes._common import now
from api.workspace import caseload as caseload_
from api.workspace import charts, models, patient, worklist
from api.workspace.chart_core import CHARTS, RANGES
from api.workspace.models import Caseload, Chart, PatientOverview

router = APIRouter(tags=["workspace"])

Severity = Literal["info", "moderate", "high", "critical"]


def _json(model: BaseModel) -> Response:
    return Response(model.model_dump_json(), media_type="application/json")


@router.get("/worklist", response_model=models.Worklist)
async def get_worklist(
    request: Request,
    caller: Caller,
    pool: Pool,
    team_id: str | None = None,
    tier: Annotated[int | None, Query(ge=1, le=3)] = None,
    severity: Severity | None = None,
    mine: bool = False,
    limit: Annotated[int, Query(ge=1, le=worklist.MAX_ROWS)] = worklist.MAX_ROWS,
) -> Response:
    """Open alerts of my teams at my role's tiers, most urgent first (severity, then deadline),
    and the feed's `seq` to resume the websocket from."""
    f = worklist.WorklistFilter(team_id, tier, severity, mine, limit)
    found = await worklist.worklist(pool, caller, f, now(request))
    return Response(found.json(), media_type="application/json")


@router.get("/caseload", response_model=Caseload)
async def get_caseload(
    request: Request,
    caller: Caller,
    pool: Pool,
    team_id: str | None = None,
    q: Annotated[str | None, Query(max_length=100, description="part of a name or id")] = None,
    sort: Literal["name", "id", "last_reading", "open_alerts", "severity", "risk"] = "severity",
    order: Literal["asc", "desc"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    """My teams' patients with their last reading, latest vitals and open alerts."""
    f = caseload_.CaseloadFilter(team_id, q, sort, order, limit, offset)
    return _json(await caseload_.caseload(pool, caller, f, now(request)))


@router.get("/patients/{patient_id}/chart", response_model=Chart)
async def get_chart(
    request: Request,
    patient_id: str,
    caller: Caller,
    pool: Pool,
    chart: Annotated[str | None, Query(description=f"one of {sorted(CHARTS)}")] = None,
    range: Annotated[str, Query(description=f"one of {list(RANGES)}")] = "24h",
    around: Annotated[uuid.UUID | None, Query(description="an alert of this patient")] = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
) -> Response:
    """One chart's series, at most `max_points` per series (each time bucket keeps its minimum
    and maximum), with the thresholds in effect and the target bands."""
    if chart is None and around is None:
        chart = "blood_pressure"
    req = charts.ChartRequest(chart, range, around, since, until)
    return _json(await charts.chart(pool, caller, patient_id, req, now(request)))


@router.get("/patients/{patient_id}/overview", response_model=PatientOverview)
async def get_overview(request: Request, patient_id: str, caller: Caller, pool: Pool) -> Response:
    """The patient page's header, alert history, tier-1 messages and silences."""
    return _json(await patient.overview(pool, caller, patient_id, now(request)))
