"""The API process's health answers (issue 14): who may learn what about the running system.

- `GET /health/live`, no authentication: `{"status": "alive"}` whenever the process answers at
  all. For restart probes; it does not look at the database (a database outage is no reason to
  restart the API).
- `GET /health`, no authentication: readiness, the status word and nothing else (no version, no
  counters, no storage mode, no feed position). 200 `ok`; 200 `alarm` when a pipeline alarm is
  active or the live alert feed stopped; 503 `unavailable` when the database did not answer a
  `SELECT 1` within `READY_TIMEOUT_S`. So it never says ok while the database is unreachable.
  Concurrent callers share one probe (`Readiness`): asking often cannot drain the pool.
- `GET /health/detail`, admins only (bearer token or signed-in session): the same status with
  the database's round trip, the storage mode, the feed's last sequence number, the pipeline's
  counters and active alarms, and the API's version.

Must not: answer more than the status word without authentication, or cache (see
api.web.security: no-store on every non-static answer).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.access import ADMIN, Caller, allow
from api.queries.health import database_round_trip_s

READY_TIMEOUT_S = 2.0
Status = Literal["ok", "alarm", "unavailable"]
router = APIRouter(tags=["health"])


class Readiness:
    """The database probe behind /health, single-flight: one probe runs at a time, and callers
    that waited for it take its answer instead of probing again. However many anonymous callers
    ask at once, /health holds at most one pooled connection, and no answer is older than the
    probe the caller waited for."""

    def __init__(self, probe: Callable[[], Awaitable[float | None]]) -> None:
        self._probe = probe
        self._lock = asyncio.Lock()
        self._probes = 0
        self._last: float | None = None

    async def round_trip_s(self) -> float | None:
        seen = self._probes
        async with self._lock:
            if self._probes == seen:  # nobody probed while this caller waited
                self._last = await self._probe()
                self._probes += 1
            return self._last


def readiness(request: Request) -> Readiness:
    state = request.app.state
    if getattr(state, "readiness", None) is None:
        pool = state.pool
        state.readiness = Readiness(lambda: database_round_trip_s(pool, READY_TIMEOUT_S))
    found: Readiness = state.readiness
    return found


def overall(database_up: bool, alarms: bool, feed_stopped: bool) -> Status:
    """The status word: an unreachable database first, then any alarm, else ok."""
    if not database_up:
        return "unavailable"
    return "alarm" if alarms or feed_stopped else "ok"


def _pipeline(request: Request) -> dict[str, Any] | None:
    stats: Callable[[], dict[str, Any]] | None = request.app.state.health_stats
    return stats() if stats is not None else None


async def _observe(request: Request) -> tuple[Status, float | None, dict[str, Any] | None]:
    round_trip = await readiness(request).round_trip_s()
    pipeline = _pipeline(request)
    task = getattr(request.app.state, "feed_task", None)
    feed_stopped = task is not None and task.done()
    alarms = bool(pipeline.get("alarms")) if pipeline else False
    return overall(round_trip is not None, alarms, feed_stopped), round_trip, pipeline


def _answer(status: Status, body: dict[str, Any]) -> JSONResponse:
    code = 503 if status == "unavailable" else 200
    return JSONResponse({"status": status, **body}, status_code=code)


@router.get("/health/live")
async def live() -> dict[str, str]:
    return {"status": "alive"}


@router.get("/health")
async def ready(request: Request) -> JSONResponse:
    status, _, _ = await _observe(request)
    return _answer(status, {})


@router.get("/health/detail")
async def detail(request: Request, caller: Caller) -> JSONResponse:
    allow(caller, ADMIN)
    status, round_trip, pipeline = await _observe(request)
    return _answer(status, {
        "version": request.app.version,
        "database": {"reachable": round_trip is not None,
                     "round_trip_ms": None if round_trip is None else round(round_trip * 1000, 1)},
        "storage_mode": request.app.state.storage_mode,
        "feed_seq": request.app.state.feed.last_seq,
        "pipeline": pipeline,
    })  # fmt: skip
