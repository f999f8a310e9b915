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
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from alerts.repository import PgAlertStore
from ingest.ports import TechnicalAlert
from ingest.repository import PgTechnicalAlarms, watch
from stream.core import StreamCore
from stream.health import Alarm, HealthLimits, Observation, PipelineHealth
from stream.operator import OperatorConfig, StreamOperator
from stream.pipeline import StreamPipeline
from stream.repository import OVERRIDES_CHANNEL, load_overrides, load_states, save_states
from stream.rules import DEFAULT_RULES
from stream.sink import PgReadingStore
from vigil.settings import Settings

log = logging.getLogger("vigil")


def health_limits(settings: Settings) -> HealthLimits:
    s = settings.stream
    return HealthLimits(
        s.alarm_no_data_s, s.alarm_lag_readings, db_refusing_s=s.alarm_db_refusing_s
    )


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
    store = PgReadingStore(settings.db.dsn.get_secret_value(), settings.stream.sink_writers)
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


async def health_monitor(
    pipeline: StreamPipeline,
    health: PipelineHealth,
    alarms: PgTechnicalAlarms,
    lag: Callable[[], Awaitable[int]],
    subject: str,
    every_s: float = 5.0,
) -> None:
    """Watch the pipeline (no data, lag, refused writes) and report changes. An alarm that cannot
    be stored (the database may be the problem) is logged at once and stored when it can be, in
    order and with the time it changed (a raise and its clear may well be stored together)."""
    unsaved: list[tuple[Alarm, datetime]] = []
    while True:
        await asyncio.sleep(every_s)
        s = pipeline.stats
        now = time.monotonic()
        failing = 0.0 if s.failing_since is None else now - s.failing_since
        changes = health.observe(Observation(now, now - s.last_batch_at, await lag(), failing))
        for alarm in changes:
            level = logging.CRITICAL if alarm.raised else logging.INFO
            log.log(
                level,
                "pipeline alarm %s %s: %s",
                alarm.kind,
                "raised" if alarm.raised else "cleared",
                alarm.detail,
            )
        at = datetime.now(UTC)
        unsaved += [(alarm, at) for alarm in changes]
        unsaved = await _store_alarms(alarms, unsaved, subject, every_s)


async def _store_alarms(
    alarms: PgTechnicalAlarms, pending: list[tuple[Alarm, datetime]], subject: str, every_s: float
) -> list[tuple[Alarm, datetime]]:
    for i, (alarm, at) in enumerate(pending):
        try:
            if alarm.raised:
                await alarms.raise_alarm(TechnicalAlert(alarm.kind, subject, alarm.detail, at))
            else:
                await alarms.clear_alarm(alarm.kind, subject, at)
        except (psycopg.Error, OSError) as exc:
            log.warning(
                "pipeline alarm %s not stored yet (%s); retrying in %.0f s",
                alarm.kind,
                type(exc).__name__,
                every_s,
            )
            return pending[i:]  # keep them, in order, for the next round
    return []
