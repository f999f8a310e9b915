"""Wiring of the stream stage: operator core, pipeline and the overrides watcher, from settings.

Shared by the embedded runner (`vigil run`) and the Faust worker (`vigil worker`): the same
operator configuration, the same pipeline (with the alerts store, which stream/ must not
import), overrides reloaded on change. The tasks themselves live in `stream.tasks`; this module
only turns settings into their arguments.
"""

from __future__ import annotations

import time

from psycopg_pool import AsyncConnectionPool

from alerts.repository import PgAlertStore
from ingest.metrics import Metrics
from ingest.repository import PgRejectionStore
from stream.core import StreamCore
from stream.health import HealthLimits
from stream.operator import OperatorConfig, StreamOperator
from stream.pipeline import StreamPipeline
from stream.rules import DEFAULT_RULES
from stream.sink import PgReadingStore
from stream.tasks import watch_overrides
from vigil.settings import Settings


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
    metrics: Metrics | None = None,
) -> tuple[StreamPipeline, PgReadingStore]:
    """The pipeline and its readings store; its batches and its alert writer's counts observed
    by `metrics` (a process's metrics; without, a registry of its own that nobody serves, so
    that every caller, the benchmarks included, runs the same instrumented path)."""
    store = PgReadingStore(settings.db.dsn.get_secret_value(), settings.stream.sink_writers)
    metrics, alerts = metrics or Metrics(), PgAlertStore(pool)
    metrics.watch_alert_writer(alerts)
    pipeline = StreamPipeline(
        store, alerts, core, monotonic=time.monotonic, retriable=retriable,
        quarantine=PgRejectionStore(pool), observe=metrics.batches.batch,
    )  # fmt: skip
    return pipeline, store


async def overrides_watcher(
    settings: Settings, pool: AsyncConnectionPool, core: StreamCore
) -> None:
    await watch_overrides(
        pool, settings.db.dsn.get_secret_value(), core, settings.stream.override_refresh_s
    )
