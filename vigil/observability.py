"""What each process tells its operators (issue 13): its metrics and its log format, from settings.

Which process exposes what (README, operations):

- `vigil run` (embedded): the ingest's counters, the stream's batches and lag, the embedded
  backlog, the pipeline's alarms, the pool, websocket clients and the database figures, all at
  the API's `/metrics`;
- `vigil api`: pool, websocket clients and the database figures at `/metrics`;
- `vigil ingest` and `vigil worker` (Kafka deployment): their counters, pool and backlog (the
  broker's queue; the worker's Kafka consumer lag) through `ingest.metrics.serve` on
  `metrics.port`, off unless set (one port per process on a host).

Must not: define metric families (ingest.metrics, reports.metrics do) or hold state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from psycopg_pool import AsyncConnectionPool

from api.feed import AlertFeed
from ingest.metrics import Metrics, serve
from reports.metrics import StoredFigures
from stream.health import CHECKS, PipelineHealth
from vigil.settings import Settings

log = logging.getLogger("vigil")

BACKLOG = "vigil_stream_backlog_messages"
BACKLOG_HELP = ("readings waiting for the stream stage: the broker's queue and the in-process bus "
                "(embedded), or the Kafka consumer lag (worker)")  # fmt: skip


def watch_pool(metrics: Metrics, name: str, pool: AsyncConnectionPool) -> None:
    metrics.watch_pool(name, pool.get_stats)


def watch_health(metrics: Metrics, health: PipelineHealth) -> None:
    metrics.watch_alarms(lambda: health.active, tuple(c.kind for c in CHECKS))


def watch_backlog(metrics: Metrics, backlog: Callable[[], float | None]) -> None:
    metrics.watch_gauge(BACKLOG, BACKLOG_HELP, backlog)


def api_metrics(
    metrics: Metrics,
    settings: Settings,
    pool: AsyncConnectionPool,
    feed: AlertFeed,
    clock: Callable[[], datetime],
) -> None:
    """What the API process adds: its websocket clients and the database's figures."""
    metrics.watch_gauge("vigil_websocket_clients", "live alert feed subscribers connected",
                        lambda: feed.subscribers)  # fmt: skip
    figures = StoredFigures(pool, clock, max_age_s=settings.metrics.db_max_age_s)
    metrics.registry.register(figures)
    metrics.add_refresher(figures.refresh)


def serve_exporter(metrics: Metrics, settings: Settings, process: str) -> None:
    """The exporter of a process without HTTP, when `metrics.port` is set."""
    m = settings.metrics
    if m.port is None:
        return
    serve(metrics, m.host, m.port)
    log.info("%s metrics on http://%s:%d/metrics", process, m.host, m.port)
