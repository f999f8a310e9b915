"""FHIR bulk export of a care team, asynchronous (issue 13; the pattern of the FHIR Bulk Data
Access IG): `GET /fhir/R4/Group/{team}/$export` with `Prefer: respond-async` answers 202 with a
`Content-Location` to poll; polling answers 202 (with `X-Progress`) while the job runs, then 200
and a JSON manifest of NDJSON files, one per resource type, each fetched with the same
credentials. `DELETE` on the status URL removes the job and its files.

Who: an admin of the team (a whole team's PHI leaves Vigil: the program admin's call, audited);
another team's export or file is 404. The job runs in this process as an asyncio task
(reports.fhir_bulk.run); its files live under the state directory until `expires_at`, when the
next request to these endpoints purges them.

Must not: build resources or hold SQL (reports.fhir_bulk does both).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from psycopg_pool import AsyncConnectionPool

from api.access import ADMIN, Caller, Pool, allow, check_team
from api.errors import InvalidRequestError, NotFoundError, UnavailableError
from api.fhir_http import FHIR_NDJSON, PREFIX, FhirResponse, base, outcome_response
from api.queries import audit
from api.routes._common import now
from ingest.retry import describe
from reports import fhir, fhir_bulk

log = logging.getLogger(__name__)
router = APIRouter(
    prefix=PREFIX, default_response_class=FhirResponse, include_in_schema=False
)  # FHIR describes itself: GET /fhir/R4/metadata


def _place(request: Request) -> fhir_bulk.ExportPlace:
    place: fhir_bulk.ExportPlace | None = request.app.state.fhir_exports
    if place is None:
        raise UnavailableError("this process keeps no export files")
    return place


def _job_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise NotFoundError("no export job with that id") from None


def _ended(task: asyncio.Task[None]) -> None:
    """Export failures are logged loudly (class and SQLSTATE only: no PHI)."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("a FHIR export job failed (%s)", describe(exc))


def _start(request: Request, pool: AsyncConnectionPool, job_id: uuid.UUID, team: str) -> None:
    place = _place(request)
    coro = fhir_bulk.run(pool, job_id, team, place.root, request.app.state.clock)
    task = asyncio.create_task(coro, name=f"fhir-export-{job_id}")
    tasks: dict[uuid.UUID, asyncio.Task[None]] = request.app.state.fhir_tasks
    tasks[job_id] = task
    task.add_done_callback(lambda t: tasks.pop(job_id, None))
    task.add_done_callback(_ended)


@router.get("/Group/{group}/$export", status_code=202)
async def kick_off(request: Request, group: str, caller: Caller, pool: Pool) -> Response:
    """A Group is a care team (its FHIR id: `reports.fhir.fhir_id` of the team id)."""
    allow(caller, ADMIN)
    team_id = fhir.vigil_id(group)
    if team_id is None:
        raise NotFoundError(f"no care team {group}")
    check_team(caller, team_id)
    if "respond-async" not in request.headers.get("prefer", ""):
        raise InvalidRequestError("a bulk export needs the header Prefer: respond-async")
    if {"_type", "_since", "_typeFilter", "_elements"} & set(request.query_params):
        raise InvalidRequestError("_type, _since, _typeFilter and _elements are not supported")
    fmt = request.query_params.get("_outputFormat", "application/fhir+ndjson")
    if fmt not in (FHIR_NDJSON, "application/ndjson", "ndjson"):
        raise InvalidRequestError("_outputFormat: NDJSON only")
    place, at = _place(request), now(request)
    async with pool.connection() as conn, conn.transaction():
        await fhir_bulk.purge(conn, place.root, at)
        job_id = await fhir_bulk.create(conn, team_id, caller.staff_id, at, place.keep)
        await audit.record(conn, caller, at, "export", "fhir.Group", [None],
                           {"team": team_id, "job": str(job_id)})  # fmt: skip
    _start(request, pool, job_id, team_id)
    status_url = f"{base(request)}/$export-status/{job_id}"
    return Response(status_code=202, headers={"Content-Location": status_url})


async def _visible_job(request: Request, caller: Caller, pool: Pool, job: str) -> fhir_bulk.Job:
    allow(caller, ADMIN)
    job_id = _job_id(job)
    async with pool.connection() as conn, conn.transaction():
        await fhir_bulk.purge(conn, _place(request).root, now(request))
        found = await fhir_bulk.get(conn, job_id)
    if found is None:
        raise NotFoundError("no export job with that id")
    check_team(caller, found.team_id)
    return found


def _manifest(request: Request, job: fhir_bulk.Job) -> dict[str, Any]:
    files = f"{base(request)}/$export-file/{job.id}"
    return {
        "transactionTime": job.requested_at.isoformat(),
        "request": f"{base(request)}/Group/{fhir.fhir_id(job.team_id)}/$export",
        "requiresAccessToken": True,
        "output": [{**o, "url": f"{files}/{o['type']}.ndjson"} for o in job.output],
        "error": [],
    }


@router.get("/$export-status/{job}")
async def status(request: Request, job: str, caller: Caller, pool: Pool) -> Response:
    found = await _visible_job(request, caller, pool, job)
    state = found.state(now(request))
    if state == "running":
        return Response(status_code=202, headers={"X-Progress": "running", "Retry-After": "2"})
    if state == "failed":
        return outcome_response(500, "internal_error", "the export failed; start a new one")
    return JSONResponse(
        _manifest(request, found), headers={"Expires": found.expires_at.isoformat()}
    )


@router.delete("/$export-status/{job}", status_code=202)
async def delete(request: Request, job: str, caller: Caller, pool: Pool) -> Response:
    found = await _visible_job(request, caller, pool, job)
    running: asyncio.Task[None] | None = request.app.state.fhir_tasks.get(found.id)
    if running is not None:
        running.cancel()
    async with pool.connection() as conn:
        await fhir_bulk.remove(conn, _place(request).root, found.id)
    return Response(status_code=202)


@router.get("/$export-file/{job}/{name}")
async def file(request: Request, job: str, name: str, caller: Caller, pool: Pool) -> Response:
    found = await _visible_job(request, caller, pool, job)
    kind = name.removesuffix(".ndjson")
    if found.state(now(request)) != "completed" or kind not in fhir_bulk.TYPES:
        raise NotFoundError("no such export file")
    async with pool.connection() as conn:
        await audit.record(conn, caller, now(request), "read", f"fhir.export.{kind}", [None],
                           {"team": found.team_id, "job": str(found.id)})  # fmt: skip
    path = _place(request).directory(found.id) / f"{kind}.ndjson"
    return FileResponse(path, media_type=FHIR_NDJSON)
