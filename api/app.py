"""The FastAPI application: health, the alerts websocket and a small live page.

`create_app` receives everything it needs (pool, feed, clock, settings values) from the
composition root; it reads no environment and opens nothing at import time. The feed task runs
for the lifetime of the app.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from importlib import resources
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from psycopg_pool import AsyncConnectionPool

from api import ws
from api.feed import AlertFeed


def create_app(
    *,
    pool: AsyncConnectionPool,
    feed: AlertFeed,
    clock: Callable[[], datetime],
    allowed_origins: list[str],
    storage_mode: str,
    stats: Callable[[], dict[str, Any]] | None = None,
) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await feed.prime()  # before the first connection is accepted
        task = asyncio.create_task(feed.run(), name="alert-feed")
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
    app.include_router(ws.router)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        pipeline = stats() if stats is not None else None
        alarms = pipeline.get("alarms") if pipeline else None
        return {
            "status": "alarm" if alarms else "ok",
            "storage_mode": storage_mode,
            "feed_seq": feed.last_seq,
            "pipeline": pipeline,
        }

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def live_page() -> str:
        return resources.files("api").joinpath("live.html").read_text(encoding="utf-8")

    return app
