"""Wiring of the stream stage: operator core, pipeline and its background tasks.

Shared by the embedded runner (`vigil run`) and the Faust worker (`vigil worker`): the same
operator configuration, the same pipeline, overrides reloaded on change. The embedded runner
also restores its operator state from the last snapshot at start and snapshots it periodically
and at shutdown; the Faust worker keeps its state in a changelogged table instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from typing import Any

from psycopg_pool import AsyncConnectionPool

from alerts.repository import PgAlertStore
from ingest.repository import watch
from stream.core import StreamCore
from stream.operator import OperatorConfig, StreamOperator
from stream.pipeline import StreamPipeline
from stream.repository import OVERRIDES_CHANNEL, load_overrides, load_states, save_states
from stream.rules import DEFAULT_RULES
from stream.sink import PgReadingStore
from vigil.settings import Settings

log = logging.getLogger("vigil")


def build_core(settings: Settings) -> StreamCore:
    s = settings.stream
    config = OperatorConfig(allowed_lateness_s=s.allowed_lateness_s, idle_flush_s=s.idle_flush_s)
    return StreamCore(StreamOperator(DEFAULT_RULES, config))


def build_pipeline(
    settings: Settings,
    pool: AsyncConnectionPool,
    core: StreamCore,
    retriable: tuple[type[BaseException], ...],
) -> tuple[StreamPipeline, PgReadingStore]:
    store = PgReadingStore(settings.db.dsn.get_secret_value())
    return StreamPipeline(store, PgAlertStore(pool), core, retriable=retriable), store


def overrides_watcher(
    settings: Settings, pool: AsyncConnectionPool, core: StreamCore
) -> Coroutine[Any, Any, None]:
    async def reload() -> None:
        core.operator.overrides = await load_overrides(pool, core.operator.rules)

    return watch(
        settings.db.dsn.get_secret_value(),
        OVERRIDES_CHANNEL,
        reload,
        settings.stream.override_refresh_s,
    )


async def ticker(pipeline: StreamPipeline, lock: asyncio.Lock, tick_s: float) -> None:
    """The operator's timers: idle flush, unconfirmable values, silent devices."""
    while True:
        await asyncio.sleep(tick_s)
        async with lock:
            await pipeline.tick(time.time())


async def restore(pool: AsyncConnectionPool, core: StreamCore) -> int:
    config = core.operator.config
    states = await load_states(pool, config.ewma_alpha, config.dedupe_memory)
    for state in states:
        core.store.put(state)
    return len(states)


async def snapshotter(
    pool: AsyncConnectionPool, core: StreamCore, lock: asyncio.Lock, every_s: float
) -> None:
    """Save changed operator states every `every_s`, and once more when cancelled (shutdown)."""
    try:
        while True:
            await asyncio.sleep(every_s)
            async with lock:
                changed = core.take_changed()
            await save_states(pool, changed)
    finally:
        with contextlib.suppress(Exception):
            saved = await save_states(pool, core.store.all())
            log.info("operator state of %d patients saved", saved)
