"""The /api/v1 router: every REST resource, with the error responses they share declared for
the OpenAPI document."""

from __future__ import annotations

from fastapi import APIRouter

from api.routes import (
    alert_actions,
    alerts,
    audit_log,
    devices,
    kpis,
    patients,
    program_plans,
    program_records,
    readings,
    rosters,
    silences,
    tasks,
    thresholds,
    workspace,
)
from api.schemas import ERROR_RESPONSES


def v1_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)
    for module in (patients, devices, thresholds, silences, readings, alerts, alert_actions,
                   rosters, audit_log, workspace, program_records, program_plans,
                   tasks, kpis):  # fmt: skip
        router.include_router(module.router)
    return router
