"""Operators' metrics (issue 13): every Prometheus family a Vigil process exposes, defined here.

Why here: the registry must be importable by the lowest room that has figures to give, and
that is the ingest (readings in, rejections); `stream`, `alerts`, `program`, `reports` and `api`
may all import `ingest`, never the reverse (tests/unit/test_layering.py). So this module holds
the names, help texts and label names of every family, and `Metrics`, one process's registry.
The composition root builds one `Metrics` per process and points it at the objects that already
count (the ingest's `IngestStats`, the pipeline's `PipelineStats`, the alert writer's
`refused` and `fallbacks`, the connection pool's `get_stats`, the live feed's subscribers).
The figures the database holds (open alerts, overdue deadlines, the outbox) are gathered at
scrape time by `reports.metrics`, which yields the families named here. The API serves the
registry at `/metrics` (api.metrics); a process without HTTP (`vigil ingest`, `vigil worker`)
serves it with `serve` when `metrics.port` is set.

Cheap on the hot path: counters are not incremented per reading; they are read from the stats
objects at scrape time. Per stream batch, `BatchMetrics.batch` makes two histogram observations
and sets two gauges; per ingest store (a group of MQTT batches), `StoreMetrics.store` two.

No PHI in any label: label values come from bounded enums only (rejection reason, alert tier,
severity and due, technical alert and pipeline alarm kinds, pool names). No patient, device or
staff id, name or value is ever a label or a sample.

Must not: be imported by the pure modules (they get `BatchMetrics` as a plain callable), read
settings, or hold state outside the `Metrics` object (no default registry: tests build their
own processes side by side).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Protocol

from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BATCH_SIZES = (1, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_000, 5_000)
BATCH_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class IngestCounts(Protocol):
    """What the ingest counts (ingest.service.IngestStats)."""

    @property
    def messages(self) -> int: ...
    @property
    def readings_accepted(self) -> int: ...
    @property
    def quarantined(self) -> int: ...
    @property
    def rejected_bytes(self) -> int: ...
    @property
    def rejected_bytes_stored(self) -> int: ...
    @property
    def rejected(self) -> Mapping[str, int]: ...


class StreamCounts(Protocol):
    """What the stream pipeline counts (stream.pipeline.PipelineStats)."""

    batches: int
    messages: int
    readings_new: int
    late: int
    detections: int
    write_failures: int
    quarantined: int
    seq_reused: int


class AlertWriterCounts(Protocol):
    """What the stream's alert writer counts (alerts.repository.PgAlertStore)."""

    refused: int
    fallbacks: int


# (name without `_total`, help, attribute of the stats object)
INGEST_COUNTERS = (
    ("vigil_ingest_messages", "MQTT messages received and decoded", "messages"),
    ("vigil_ingest_readings_accepted", "readings accepted and handed on (readings in)",
     "readings_accepted"),
    ("vigil_ingest_quarantined", "messages the hand-off refused, kept as unstorable",
     "quarantined"),
    ("vigil_ingest_rejected_bytes", "bytes of received payloads with a refusal, once per message",
     "rejected_bytes"),
    ("vigil_ingest_rejected_bytes_stored", "bytes written to rejected_readings",
     "rejected_bytes_stored"),
)  # fmt: skip
STREAM_COUNTERS = (
    ("vigil_stream_batches", "batches the stream stage made durable", "batches"),
    ("vigil_stream_messages", "messages through the stream stage", "messages"),
    ("vigil_stream_readings_stored", "readings newly stored (duplicates excluded)",
     "readings_new"),
    ("vigil_stream_late_readings", "readings later than the allowed lateness", "late"),
    ("vigil_stream_detections", "detections recorded", "detections"),
    ("vigil_stream_write_failures", "batch writes the database refused (retried)",
     "write_failures"),
    ("vigil_stream_quarantined", "messages the readings store refused, kept as unstorable",
     "quarantined"),
    ("vigil_stream_seq_reused", "copies of a stored seq with other content, refused",
     "seq_reused"),
)  # fmt: skip
ALERT_WRITER_COUNTERS = (
    ("vigil_alerts_detections_unrecorded", "detections the alert writer could not record (kept"
     " in refused_detections, technical alert detection_unrecorded)", "refused"),
    ("vigil_alerts_batch_fallbacks", "detection batches refused whole, recorded one by one",
     "fallbacks"),
)  # fmt: skip
# psycopg_pool get_stats() keys: (family, help, key, counter?)
POOL_FIGURES = (
    ("vigil_db_pool_size", "connections open in the pool", "pool_size", False),
    ("vigil_db_pool_available", "connections idle in the pool", "pool_available", False),
    ("vigil_db_pool_max", "the pool's maximum size", "pool_max", False),
    ("vigil_db_pool_requests_waiting", "requests waiting for a connection", "requests_waiting",
     False),
    ("vigil_db_pool_requests", "connections requested from the pool", "requests_num", True),
    ("vigil_db_pool_requests_queued", "requests that had to wait", "requests_queued", True),
    ("vigil_db_pool_requests_errors", "requests that failed (timeout, pool closed)",
     "requests_errors", True),
    ("vigil_db_pool_connections_lost", "connections found broken", "connections_lost", True),
)  # fmt: skip


class BatchMetrics:
    """The stream pipeline's per-batch observations (sizes, durations, newest times), and the
    stream's lag at scrape time: now (`clock`, epoch seconds) minus the newest receipt."""

    def __init__(self, registry: CollectorRegistry, clock: Callable[[], float]) -> None:
        self._messages = Histogram(
            "vigil_stream_batch_messages", "messages per stream batch", buckets=BATCH_SIZES,
            registry=registry,
        )  # fmt: skip
        self._seconds = Histogram(
            "vigil_stream_batch_seconds", "one stream batch: detect, store, record (seconds)",
            buckets=BATCH_SECONDS, registry=registry,
        )  # fmt: skip
        self._received = Gauge(
            "vigil_stream_newest_received_timestamp_seconds",
            "MQTT receipt time of the newest reading through the stream stage (unix seconds); "
            "time() minus this is the stream's lag",
            registry=registry,
        )
        self._measured = Gauge(
            "vigil_stream_newest_measured_timestamp_seconds",
            "measurement time of the newest reading through the stream stage (unix seconds)",
            registry=registry,
        )
        self._newest = (0.0, 0.0)
        self._clock = clock
        registry.register(_Figures(self._lag))

    def _lag(self) -> Iterator[Metric]:
        received = self._newest[0]
        if received > 0:
            yield GaugeMetricFamily(
                "vigil_stream_lag_seconds",
                "seconds since the MQTT receipt of the newest reading the stream stage has made "
                "durable (grows while readings wait, and while none arrive)",
                value=max(0.0, self._clock() - received),
            )

    def batch(self, messages: int, seconds: float, received_s: float, measured_s: float) -> None:
        """One batch made durable: its size, its duration, its newest receipt and measurement."""
        self._messages.observe(messages)
        self._seconds.observe(seconds)
        received, measured = self._newest
        if received_s > received:
            self._received.set(received_s)
        if measured_s > measured:
            self._measured.set(measured_s)
        self._newest = (max(received, received_s), max(measured, measured_s))


class StoreMetrics:
    """The ingest's store stage: each group of decoded batches made durable (hand-off and
    rejections, retries included) before its PUBACKs go out."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._messages = Histogram(
            "vigil_ingest_store_messages", "MQTT messages per ingest store (one hand-off)",
            buckets=BATCH_SIZES, registry=registry,
        )  # fmt: skip
        self._seconds = Histogram(
            "vigil_ingest_store_seconds", "one ingest store until durable (seconds)",
            buckets=BATCH_SECONDS, registry=registry,
        )  # fmt: skip

    def store(self, messages: int, seconds: float) -> None:
        self._messages.observe(messages)
        self._seconds.observe(seconds)


class _Figures(Collector):
    """Families computed at scrape time by a function (no state of its own)."""

    def __init__(self, produce: Callable[[], Iterator[Metric]]) -> None:
        self._produce = produce

    def collect(self) -> Iterator[Metric]:
        return self._produce()


class Metrics:
    """One process's metrics: its registry and what feeds it (see the module docstring)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.registry = CollectorRegistry()
        self.batches = BatchMetrics(self.registry, clock)
        self.stores = StoreMetrics(self.registry)
        self._refreshers: list[Callable[[], Awaitable[None]]] = []

    def add(self, produce: Callable[[], Iterator[Metric]]) -> None:
        self.registry.register(_Figures(produce))

    def add_refresher(self, refresh: Callable[[], Awaitable[None]]) -> None:
        """An async function awaited before each /metrics answer (cached database figures)."""
        self._refreshers.append(refresh)

    async def refresh(self) -> None:
        for refresh in self._refreshers:
            await refresh()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def watch_ingest(self, stats: IngestCounts) -> None:
        self.add(lambda: ingest_families(stats))

    def watch_stream(self, stats: Callable[[], StreamCounts | None]) -> None:
        self.add(lambda: stream_families(stats()))

    def watch_alert_writer(self, counts: AlertWriterCounts) -> None:
        self.add(lambda: alert_writer_families(counts))

    def watch_pool(self, name: str, get_stats: Callable[[], Mapping[str, int]]) -> None:
        self.add(lambda: pool_families(name, get_stats()))

    def watch_gauge(self, name: str, help_: str, value: Callable[[], float | None]) -> None:
        self.add(lambda: gauge_family(name, help_, value()))

    def watch_alarms(
        self, kinds: Callable[[], Mapping[str, str]], all_kinds: tuple[str, ...]
    ) -> None:
        self.add(lambda: alarm_families(kinds(), all_kinds))


def counter(name: str, help_: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, help_, value=value)


def ingest_families(s: IngestCounts) -> Iterator[Metric]:
    for name, help_, attribute in INGEST_COUNTERS:
        yield counter(name, help_, getattr(s, attribute))
    rejected = CounterMetricFamily(
        "vigil_ingest_rejected", "refusals by reason (one per refused reading or message)",
        labels=["reason"],
    )  # fmt: skip
    for reason, count in sorted(dict(s.rejected).items()):  # a copy: read from another thread
        rejected.add_metric([reason], count)
    yield rejected


def stream_families(s: StreamCounts | None) -> Iterator[Metric]:
    if s is None:  # the Faust worker before its first batch opened the pipeline
        return
    for name, help_, attribute in STREAM_COUNTERS:
        yield counter(name, help_, getattr(s, attribute))


def alert_writer_families(s: AlertWriterCounts) -> Iterator[Metric]:
    for name, help_, attribute in ALERT_WRITER_COUNTERS:
        yield counter(name, help_, getattr(s, attribute))


def pool_families(pool: str, stats: Mapping[str, int]) -> Iterator[Metric]:
    for name, help_, key, is_counter in POOL_FIGURES:
        family = (CounterMetricFamily if is_counter else GaugeMetricFamily)(
            name, help_, labels=["pool"]
        )
        family.add_metric([pool], stats.get(key, 0))
        yield family
    waited = CounterMetricFamily(
        "vigil_db_pool_requests_wait_seconds", "time requests waited for a connection",
        labels=["pool"],
    )  # fmt: skip
    waited.add_metric([pool], stats.get("requests_wait_ms", 0) / 1000)
    yield waited


def gauge_family(name: str, help_: str, value: float | None) -> Iterator[Metric]:
    if value is not None:
        yield GaugeMetricFamily(name, help_, value=value)


def alarm_families(active: Mapping[str, str], kinds: tuple[str, ...]) -> Iterator[Metric]:
    family = GaugeMetricFamily("vigil_pipeline_alarm_active",
                               "1 while the pipeline's own alarm of this kind is raised",
                               labels=["kind"])  # fmt: skip
    for kind in kinds:
        family.add_metric([kind], 1.0 if kind in active else 0.0)
    yield family


def serve(metrics: Metrics, host: str, port: int) -> None:
    """Serve the registry over HTTP from a daemon thread (prometheus_client's exporter), for the
    processes without an API. A scrape only reads: integers and dictionary copies (atomic under
    the GIL), the pool's figures and the histograms (which lock)."""
    from prometheus_client import start_http_server

    try:
        start_http_server(port, addr=host, registry=metrics.registry)
    except OSError as exc:  # fatal: a process told to expose metrics must not run blind
        raise OSError(f"cannot serve metrics on {host}:{port}: {exc.strerror}") from exc
