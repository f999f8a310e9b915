"""The FastAPI application: health, the operators' metrics (/metrics, api.metrics), the REST API
(/api/v1), FHIR R4 (/fhir/R4), staff sign-in (/auth), the alerts websocket and the clinician
workspace's pages (api.web).

`create_app` receives everything it needs (pool, feed, clock, the alert response, settings
values) from the composition root; it reads no environment and opens nothing at import time.
The feed task runs for the lifetime of the app; if it stops with an error, that is logged at
CRITICAL and /health answers "alarm" (api.health: liveness, readiness and the admins' detail).
Errors become JSON in api.error_handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool

from alerts.response import PgResponse
from api import error_handlers, health, web, ws
from api.feed import AlertFeed
from api.metrics import router as metrics_router
from api.routes import fhir, fhir_bulk, fhir_post, session
from api.routes.fhir_post import ReadingRelay
from api.routes.v1 import v1_router
from api.session_policy import SessionPolicy
from ingest.dynsec import BrokerAccounts
from ingest.metrics import Metrics
from ingest.retry import describe, frames
from reports.fhir_bulk import ExportPlace

log = logging.getLogger(__name__)


def _feed_stopped(task: asyncio.Task[None]) -> None:
    """The feed ends only at shutdown or on a non-retriable error: never let that pass quietly
    (class, SQLSTATE and frames only: the message of a database error can quote PHI)."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.critical("the live alert feed stopped (%s); nothing is pushed to clinicians\n%s",
                     describe(exc), frames(exc))  # fmt: skip


def create_app(
    *,
    pool: AsyncConnectionPool,
    feed: AlertFeed,
    clock: Callable[[], datetime],
    allowed_origins: list[str],
    storage_mode: str,
    stats: Callable[[], dict[str, Any]] | None = None,
    response: PgResponse | None = None,
    sessions: SessionPolicy | None = None,
    broker: BrokerAccounts | None = None,
    fhir_exports: ExportPlace | None = None,
    relay: ReadingRelay | None = None,
    metrics: Metrics | None = None,
    metrics_token: str | None = None,
) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await feed.prime()  # before the first connection is accepted
        task = asyncio.create_task(feed.run(), name="alert-feed")
        task.add_done_callback(_feed_stopped)
        app.state.feed_task = task
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app = FastAPI(title="Vigil", version="0.1.0", lifespan=lifespan)
    app.state.pool = pool
    app.state.feed = feed
    app.state.clock = clock
    app.state.allowed_origins = frozenset(allowed_origins)
    app.state.response = response  # None: alert actions answer 503 (e.g. a read-only API)
    app.state.sessions = sessions or SessionPolicy()  # staff sign-in, cookie and lockout rules
    app.state.broker = broker  # device credentials; None: those endpoints answer 503
    app.state.storage_mode = storage_mode
    app.state.health_stats = stats  # the pipeline's counters and alarms (embedded runner)
    app.state.fhir_exports = fhir_exports  # None: FHIR bulk export answers 503
    app.state.fhir_tasks = {}  # export jobs running in this process, by id
    app.state.relay = relay  # this process's ingest (embedded runner); None: FHIR posts 503
    app.state.metrics = metrics  # /metrics (api.metrics); None: 404
    app.state.metrics_token = metrics_token
    error_handlers.install(app)
    app.include_router(health.router)
    app.include_router(metrics_router)
    app.include_router(ws.router)
    app.include_router(v1_router())
    app.include_router(session.router)
    app.include_router(fhir.router)
    app.include_router(fhir_bulk.router)
    app.include_router(fhir_post.router)
    web.install(app)

    return app
