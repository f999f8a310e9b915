"""FHIR R4 reads and searches (issue 13): `Patient/{id}`, `Device/{id}`, `Observation/{id}`,
`Flag/{id}`, `Observation?patient=&code=&date=&_count=`, `Flag?patient=` and
`Patient/{id}/$everything`, as `application/fhir+json`.

Same callers and scoping as /api/v1: staff of the patient's team, or the patient; anything
outside is 404 (an OperationOutcome, api.fhir_http). Every read of a patient's data is audited in
the read's transaction. Searches need a patient: there is no team-wide search (the bulk export
is that). Pages are keyset cursors carried in the `next` link (`_cursor`).

Must not: build resources (reports.fhir does) or hold SQL (reports.fhir_store does).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from psycopg import AsyncConnection

from api import cursors
from api.access import PHI_READERS, Caller, Pool, allow, check_patient
from api.auth import Principal
from api.errors import InvalidRequestError, NotFoundError
from api.fhir_http import PREFIX, FhirResponse, base
from api.queries import audit
from api.routes._common import now
from reports import fhir, fhir_search
from reports import fhir_store as store

router = APIRouter(
    prefix=PREFIX, default_response_class=FhirResponse, include_in_schema=False
)  # FHIR describes itself: GET /fhir/R4/metadata

Count = Annotated[int, Query(alias="_count", ge=1, le=1000)]
_CURSOR = (datetime, str, int, str)


@router.get("/metadata")
async def metadata(request: Request) -> Any:
    """The CapabilityStatement: public, as FHIR clients read it before signing in."""
    return fhir.capability_statement(base(request), now(request).date().isoformat())


def _vigil(fid: str, kind: str) -> str:
    found = fhir.vigil_id(fid)
    if found is None:
        raise NotFoundError(f"no {kind} with that id")
    return found


async def _audit(
    conn: AsyncConnection[Any], request: Request, caller: Principal, what: str, pid: str, **d: Any
) -> None:
    await audit.record(conn, caller, now(request), "read", f"fhir.{what}", [pid], d or None)


@router.get("/Patient/{fid}")
async def read_patient(request: Request, fid: str, caller: Caller, pool: Pool) -> Any:
    allow(caller, PHI_READERS)
    pid = _vigil(fid, "Patient")
    async with pool.connection() as conn, conn.transaction():
        row = await store.patient(conn, pid)
        check_patient(caller, pid, None if row is None else row["team_id"])
        await _audit(conn, request, caller, "Patient", pid)
    assert row is not None
    return fhir.patient(row)


@router.get("/Device/{fid}")
async def read_device(request: Request, fid: str, caller: Caller, pool: Pool) -> Any:
    allow(caller, PHI_READERS)
    device_id = _vigil(fid, "Device")
    async with pool.connection() as conn, conn.transaction():
        row = await store.device(conn, device_id)
        if row is None or row["patient_id"] is None:
            raise NotFoundError("no Device with that id")
        check_patient(caller, row["patient_id"], row["team_id"])
        await _audit(conn, request, caller, "Device", row["patient_id"])
    return fhir.device(row)


@router.get("/Observation/{fid}")
async def read_observation(request: Request, fid: str, caller: Caller, pool: Pool) -> Any:
    allow(caller, PHI_READERS)
    key = fhir.parse_observation_id(fid)
    if key is None:
        raise NotFoundError("no Observation with that id")
    async with pool.connection() as conn, conn.transaction():
        found = await store.observation(conn, key)
        if found is None:
            raise NotFoundError("no Observation with that id")
        row, team = found
        check_patient(caller, row.patient_id, team)
        await _audit(conn, request, caller, "Observation", row.patient_id)
    return fhir.observation(row)


@router.get("/Flag/{fid}")
async def read_flag(request: Request, fid: str, caller: Caller, pool: Pool) -> Any:
    allow(caller, PHI_READERS)
    try:
        alert_id = str(uuid.UUID(fid))
    except ValueError:
        raise NotFoundError("no Flag with that id") from None
    async with pool.connection() as conn, conn.transaction():
        row = await store.flag(conn, alert_id)
        check_patient(caller, "" if row is None else row["patient_id"],
                      None if row is None else row["team_id"])  # fmt: skip
        await _audit(conn, request, caller, "Flag", row["patient_id"] if row else "")
    assert row is not None
    return fhir.flag(row)


def _patient_param(request: Request) -> str:
    value = request.query_params.get("patient") or request.query_params.get("subject")
    if not value:
        raise InvalidRequestError("patient: a search needs the patient (patient=Patient/{id})")
    found = fhir_search.reference(value, "Patient")
    if found is None:
        raise NotFoundError("no Patient with that id")
    return found


def _search(request: Request, pid: str) -> store.Search:
    q = request.query_params
    try:
        since, until = fhir_search.dates(q.getlist("date"))
        codes = fhir_search.codes(q.get("code"))
    except fhir_search.SearchError as exc:
        raise InvalidRequestError(str(exc)) from None
    cursor = q.get("_cursor")
    after = cursors.decode(cursor, _CURSOR) if cursor else None
    return store.Search(pid, codes, since, until, after)


def _next(request: Request, rows: list[fhir.ReadingRow], count: int) -> dict[str, str]:
    self_url = f"{base(request)}/Observation?{request.url.query}"
    if len(rows) <= count:
        return {"self": self_url}
    last = rows[count - 1]
    kept = [(k, v) for k, v in request.query_params.multi_items() if k != "_cursor"]
    cursor = cursors.encode(last.time, last.device_id, last.seq, last.metric)
    query = urlencode([*kept, ("_cursor", cursor)])
    return {"self": self_url, "next": f"{base(request)}/Observation?{query}"}


@router.get("/Observation")
async def search_observations(
    request: Request, caller: Caller, pool: Pool, count: Count = 100
) -> Any:
    allow(caller, PHI_READERS)
    pid = _patient_param(request)
    search = _search(request, pid)
    async with pool.connection() as conn, conn.transaction():
        row = await store.patient(conn, pid)
        check_patient(caller, pid, None if row is None else row["team_id"])
        rows = await store.search(conn, search, count + 1)
        await _audit(conn, request, caller, "Observation", pid, count=min(len(rows), count))
    resources = [fhir.observation(r) for r in rows[:count]]
    return fhir.bundle("searchset", resources, base(request), _next(request, rows, count))


@router.get("/Flag")
async def search_flags(request: Request, caller: Caller, pool: Pool) -> Any:
    allow(caller, PHI_READERS)
    pid = _patient_param(request)
    async with pool.connection() as conn, conn.transaction():
        row = await store.patient(conn, pid)
        check_patient(caller, pid, None if row is None else row["team_id"])
        rows = await store.flags(conn, pid)
        await _audit(conn, request, caller, "Flag", pid, count=len(rows))
    links = {"self": f"{base(request)}/Flag?{request.url.query}"}
    return fhir.bundle("searchset", [fhir.flag(r) for r in rows], base(request), links)


@router.get("/Patient/{fid}/$everything")
async def everything(
    request: Request, fid: str, caller: Caller, pool: Pool, count: Count = 1000
) -> Any:
    """The patient, their devices, alerts (Flags) and newest `_count` Observations (between
    `start` and `end` when given); a `next` link continues with the Observation search."""
    allow(caller, PHI_READERS)
    pid = _vigil(fid, "Patient")
    q = request.query_params
    dates = [f"{prefix}{q[name]}" for name, prefix in (("start", "ge"), ("end", "lt")) if name in q]
    try:
        since, until = fhir_search.dates(dates)
    except fhir_search.SearchError as exc:
        raise InvalidRequestError(str(exc)) from None
    async with pool.connection() as conn, conn.transaction():
        row = await store.patient(conn, pid)
        check_patient(caller, pid, None if row is None else row["team_id"])
        assert row is not None
        devices = await store.devices_of(conn, pid)
        flags = await store.flags(conn, pid)
        rows = await store.search(conn, store.Search(pid, None, since, until), count + 1)
        await _audit(conn, request, caller, "everything", pid, observations=min(len(rows), count))
    resources = [fhir.patient(row), *map(fhir.device, devices), *map(fhir.flag, flags),
                 *(fhir.observation(r) for r in rows[:count])]  # fmt: skip
    links = {"self": f"{base(request)}/Patient/{fid}/$everything"}
    if len(rows) > count:
        last = rows[count - 1]
        cursor = cursors.encode(last.time, last.device_id, last.seq, last.metric)
        query = urlencode([("patient", f"Patient/{fid}"), ("_count", count), ("_cursor", cursor),
                           *(("date", d) for d in dates)])  # fmt: skip
        links["next"] = f"{base(request)}/Observation?{query}"
    return fhir.bundle("searchset", resources, base(request), links)
