"""`vigil worker`: a Faust stream worker (Kafka deployment).

Builds the Faust app around the shared operator core, with a pipeline factory that opens its
database connections inside the worker's own event loop, and hands the process to `faust.Worker`
(which owns the loop and the signal handling). Add workers to scale out: partitions, and the
operator state with them, are spread across them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import NoReturn

import faust
from psycopg_pool import AsyncConnectionPool

from ingest import logs
from ingest.kafka import ensure_topic
from ingest.metrics import Metrics
from ingest.repository import PgTechnicalAlarms
from ingest.retry import describe, frames
from stream.core import StreamCore
from stream.faust_app import build_app, consumer_lag
from stream.health import PipelineHealth
from stream.pipeline import StreamPipeline
from stream.tasks import health_monitor
from vigil import heap
from vigil.diagnostics import install_task_dump
from vigil.observability import serve_exporter, watch_backlog, watch_health, watch_pool
from vigil.runtime import RETRIABLE, report_mode
from vigil.settings import Settings
from vigil.streaming import build_core, build_pipeline, health_limits, overrides_watcher

log = logging.getLogger("vigil")


def make_app(settings: Settings, metrics: Metrics | None = None) -> faust.App:
    dsn = settings.db.dsn.get_secret_value()
    core = build_core(settings)
    apps: list[faust.App] = []  # the app, once built: the lag probe needs its consumer
    background: set[asyncio.Task[None]] = set()
    metrics = metrics or Metrics()
    pipelines: list[StreamPipeline] = []  # the pipeline, once its database is open
    lags: list[int] = []  # the Kafka consumer lag, as the health monitor last saw it
    metrics.watch_stream(lambda: pipelines[0].stats if pipelines else None)
    watch_backlog(metrics, lambda: lags[-1] if lags else None)

    async def lag() -> int:
        n = await consumer_lag(apps[0])
        lags[:] = [n]
        return n

    async def pipeline(core: StreamCore) -> StreamPipeline:
        pool = AsyncConnectionPool(
            dsn,
            min_size=1,
            max_size=settings.db.pool_max,
            open=False,
            check=AsyncConnectionPool.check_connection,
        )  # dead connections replaced on checkout, as vigil.runtime.open_pool
        await pool.open(wait=True, timeout=30)
        built, _ = build_pipeline(settings, pool, core, RETRIABLE, metrics)
        pipelines.append(built)
        watch_pool(metrics, "main", pool)
        loop = asyncio.get_running_loop()
        subject = f"worker {settings.kafka.app_id}"
        health = PipelineHealth(health_limits(settings))
        watch_health(metrics, health)
        monitor = health_monitor(built, health, PgTechnicalAlarms(pool), lag, subject)
        works = {"overrides-watcher": overrides_watcher(settings, pool, core), "health": monitor}
        for name, work in works.items():
            task = loop.create_task(work, name=name)
            background.add(task)  # keep a reference: the loop only holds weak ones
            task.add_done_callback(lambda t: stop_on_error(t, apps[0].crash, background))
        return built

    k, s = settings.kafka, settings.stream
    app = build_app(
        app_id=k.app_id,
        bootstrap=k.bootstrap,
        topic=k.readings_topic,
        partitions=k.partitions,
        datadir=settings.state_dir / "faust",
        core=core,
        pipeline_factory=pipeline,
        retriable=RETRIABLE,
        batch_max=s.sink_batch_max,
        batch_within_s=s.sink_linger_ms / 1000,
        tick_s=s.tick_s,
        fetch_max_wait_ms=k.fetch_max_wait_ms,
    )
    apps.append(app)

    @app.task  # type: ignore[untyped-decorator]  # Faust's decorators carry no types
    async def diagnostics() -> None:
        install_task_dump(asyncio.get_running_loop())
        log.info("start-up done: %d objects exempt from the collector's passes", heap.settle())

    return app


def stop_on_error(
    task: asyncio.Task[None],
    crash: Callable[[BaseException], Awaitable[None]],
    keep: set[asyncio.Task[None]],
) -> None:
    """A background task (overrides watcher, health monitor) ended by an error: log it at
    CRITICAL and crash the worker, as the embedded runner stops. Left alone, the task would die
    unnoticed (overrides no longer reloaded, no pipeline alarms). Neither the log nor the crash
    reason carries the error's text (a database error's can quote PHI)."""
    if task.cancelled() or (exc := task.exception()) is None:
        return
    what = f"worker task {task.get_name()} stopped ({describe(exc)})"
    log.critical("%s\n%s", what, frames(exc))
    crashing = asyncio.ensure_future(crash(RuntimeError(what)))
    keep.add(crashing)  # held until it has run, like the tasks
    crashing.add_done_callback(keep.discard)


def run_worker(settings: Settings) -> NoReturn:
    report_mode(settings)
    k = settings.kafka
    asyncio.run(ensure_topic(k.bootstrap, k.readings_topic, k.partitions))
    metrics = Metrics()
    app = make_app(settings, metrics)
    serve_exporter(metrics, settings, "worker")
    json_logs = logs.dict_config(settings.log_level) if settings.log_format == "json" else None
    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True, logging_config=json_logs)
    worker.execute_from_commandline()  # exits the process when the worker stops
