"""Process wiring: build the adapters from settings and run the long-lived processes.

- `run_embedded`: the whole pipeline in one process (ingest -> in-process bus -> stream ->
  alerts -> API), on real Mosquitto and PostgreSQL. The default deployment and demo.
- `run_ingest`: the ingest alone, handing readings to Kafka (distributed deployment); it also
  runs the tier-1 outbox sender (alerts.outbox), the embedded runner runs it too.
- `run_api`: the API alone (distributed deployment).
The Faust worker is started by `vigil.worker`.

Every process reports its storage mode at start, stops cleanly on SIGINT/SIGTERM, logs its
tasks' await chains on SIGUSR1 (`vigil.diagnostics`) and keeps one `ingest.metrics.Metrics`,
served at the API's /metrics or by the exporter on `metrics.port` (`vigil.observability`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import secrets
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import uvicorn
from aiokafka.errors import KafkaError
from psycopg_pool import AsyncConnectionPool

from alerts.delivery import Backoff
from alerts.outbox import OutboxSender
from alerts.repository import PgAlertStore
from alerts.response import PgResponse
from alerts.timers import DeadlineTimers
from api.app import create_app
from api.feed import AlertFeed
from api.session_policy import SessionPolicy
from ingest.contract import Limits
from ingest.downlink import MqttPublisher
from ingest.dynsec import BrokerAccounts
from ingest.kafka import KafkaHandoff, ensure_topic
from ingest.metrics import Metrics
from ingest.monitor import BadDataMonitor
from ingest.mqtt import MqttReceiver, retained_acks
from ingest.pg_listen import RETRIABLE as DATABASE_RETRIABLE
from ingest.ports import ReadingHandoff
from ingest.repository import (
    PgHandledSeqs,
    PgRejectionStore,
    PgTechnicalAlarms,
    retain_rejected,
)
from ingest.service import IngestService
from ingest.startup import start_ingest
from program.recompute import risk_loop
from program.scheduler import ProgramScheduler
from reports.fhir_bulk import ExportPlace
from reports.kpi_queries import refresh_loop as kpi_refresh_loop
from stream.embedded import EmbeddedBus
from stream.health import PipelineHealth
from stream.tasks import health_monitor, restore, snapshotter, ticker
from vigil import heap
from vigil.diagnostics import install_task_dump
from vigil.migrate import storage_mode
from vigil.observability import (
    api_metrics,
    serve_exporter,
    watch_backlog,
    watch_health,
    watch_pool,
)
from vigil.settings import Settings
from vigil.streaming import build_core, build_pipeline, health_limits, overrides_watcher

log = logging.getLogger("vigil")

# The database's retriable errors (connection loss, failover, pool timeout), and Kafka's.
RETRIABLE: tuple[type[BaseException], ...] = (*DATABASE_RETRIABLE, KafkaError)


def utc_now() -> datetime:
    return datetime.now(UTC)


def report_mode(settings: Settings) -> str:
    with psycopg.connect(settings.db.dsn.get_secret_value()) as conn:
        mode = str(storage_mode(conn))
    log.info("storage mode: %s", mode)
    return mode


@contextlib.asynccontextmanager
async def open_pool(settings: Settings) -> AsyncIterator[AsyncConnectionPool]:
    # Every connection is checked as it leaves the pool (one empty round trip): after the
    # database restarted or ended sessions, a dead connection is replaced at once instead of
    # failing the request, the rejection or the ack that drew it (issue 14).
    pool = AsyncConnectionPool(
        settings.db.dsn.get_secret_value(),
        min_size=settings.db.pool_min,
        max_size=settings.db.pool_max,
        open=False,
        check=AsyncConnectionPool.check_connection,
    )
    await pool.open(wait=True, timeout=30)
    try:
        yield pool
    finally:
        await pool.close()


def build_ingest(
    settings: Settings, pool: AsyncConnectionPool, handoff: ReadingHandoff
) -> IngestService:
    s = settings.ingest
    limits = Limits(
        s.max_payload_bytes, s.max_readings_per_payload, s.max_future_skew_s, s.max_age_s
    )
    return IngestService(
        handoff,
        PgRejectionStore(pool),
        PgTechnicalAlarms(pool),
        limits=limits,
        monitor=BadDataMonitor(s.bad_device_threshold, s.bad_device_window_s),
        retriable=RETRIABLE,
        handled=PgHandledSeqs(pool),
    )


def build_receiver(settings: Settings, *, client_id: str | None = None) -> MqttReceiver:
    m = settings.mqtt
    host, port, tls = m.service_endpoint()
    return MqttReceiver(
        host=host,
        port=port,
        tls=tls,
        username=m.username,
        password=m.password.get_secret_value(),
        client_id=client_id or m.client_id,
        keepalive_s=m.keepalive_s,
    )


def build_broker_accounts(settings: Settings) -> BrokerAccounts:
    """The broker-admin account's client that issues, rotates and revokes device credentials."""
    m = settings.mqtt
    host, port, tls = m.service_endpoint()
    return BrokerAccounts(host=host, port=port, tls=tls, username=m.admin_username,
                          password=m.admin_password.get_secret_value())  # fmt: skip


def session_policy(settings: Settings) -> SessionPolicy:
    a = settings.api
    return SessionPolicy(
        idle_s=a.session_idle_s,
        absolute_s=a.session_absolute_s,
        max_failures=a.signin_max_failures,
        lockout_s=a.signin_lockout_s,
        secure_cookie=a.tls_terminated,
    )


def fhir_export_place(settings: Settings) -> ExportPlace:
    """Where FHIR bulk exports are written: the state directory, never the source tree."""
    keep = timedelta(seconds=settings.api.fhir_export_keep_s)
    return ExportPlace(settings.state_dir.resolve() / "fhir-exports", keep)


def build_api_server(
    settings: Settings,
    pool: AsyncConnectionPool,
    mode: str,
    stats: Callable[[], dict[str, Any]] | None,
    relay: IngestService | None = None,
    metrics: Metrics | None = None,
) -> uvicorn.Server:
    feed = AlertFeed(pool, settings.db.dsn.get_secret_value(), queue_max=settings.api.ws_queue_max)
    if metrics is not None:
        api_metrics(metrics, settings, pool, feed, utc_now)
    token = settings.metrics.token
    app = create_app(
        pool=pool,
        feed=feed,
        clock=utc_now,
        allowed_origins=settings.api.allowed_origins,
        storage_mode=mode,
        stats=stats,
        response=PgResponse(pool, utc_now),
        sessions=session_policy(settings),
        broker=build_broker_accounts(settings),
        fhir_exports=fhir_export_place(settings),
        relay=relay,  # FHIR-posted Observations go through this process's ingest, if any
        metrics=metrics,
        metrics_token=None if token is None else token.get_secret_value(),
    )
    # No per-message deflate on the websocket: each alert event is serialised once for every
    # subscriber (api.feed), and compressing it again per connection would cost more CPU than
    # the fan-out itself (see `vigil bench ws`).
    # Inbound websocket messages are bounded (api.ws_max_message_bytes): the socket's only
    # inbound messages are small JSON requests. No `server` header: strangers are not told the
    # software that answers. No logging configuration of uvicorn's own: its lines go through
    # the process's handler (text or JSON lines, vigil.observability).
    # With api.tls_certfile/keyfile the API serves https itself: the session cookie is then
    # Secure and HSTS is sent (api.routes.session, api.web.security).
    a = settings.api
    config = uvicorn.Config(app, host=a.host, port=a.port, log_level="warning", lifespan="on",
                            ws_per_message_deflate=False, ws_max_size=a.ws_max_message_bytes,
                            server_header=False, log_config=None,
                            ssl_certfile=str(a.tls_certfile) if a.tls_certfile else None,
                            ssl_keyfile=str(a.tls_keyfile) if a.tls_keyfile else None)  # fmt: skip
    return uvicorn.Server(config)


async def start_ingest_tasks(
    settings: Settings,
    pool: AsyncConnectionPool,
    service: IngestService,
    receiver: MqttReceiver,
    metrics: Metrics | None = None,
) -> list[Coroutine[Any, Any, None]]:
    """The ingest's start-up (`ingest.startup`), with its values taken from the settings."""
    m, s = settings.mqtt, settings.ingest
    host, port, tls = m.service_endpoint()
    read_acks = functools.partial(retained_acks, host=host, port=port, tls=tls,
                                  username=m.username,
                                  password=m.password.get_secret_value())  # fmt: skip
    tasks = await start_ingest(
        service,
        receiver,
        pool,
        conninfo=settings.db.dsn.get_secret_value(),
        binding_refresh_s=s.binding_refresh_s,
        read_acks=read_acks,
        clock=utc_now,
        retriable=RETRIABLE,
        max_batch=s.batch_max_messages,
        linger_s=s.batch_linger_ms / 1000,
        in_flight=s.batches_in_flight,
        metrics=metrics,
    )
    # Created last, like the other tasks: a failed start-up leaves no coroutine un-awaited.
    retention = retain_rejected(pool, keep_s=s.rejected_retention_days * 86_400,
                                every_s=s.rejected_purge_every_s, clock=utc_now,
                                retriable=RETRIABLE)  # fmt: skip
    return [*tasks, retention]


async def run_embedded(settings: Settings) -> None:
    mode = await asyncio.to_thread(report_mode, settings)
    async with open_pool(settings) as pool:
        core = build_core(settings)
        log.info("operator state of %d patients restored", await restore(pool, core))
        metrics = Metrics()
        pipeline, store = build_pipeline(settings, pool, core, RETRIABLE, metrics)
        lock = asyncio.Lock()  # batches, ticks and snapshots take turns with the operator state
        bus = EmbeddedBus(pipeline, lock, max_batch=settings.stream.sink_batch_max)
        service = build_ingest(settings, pool, bus)
        health = PipelineHealth(health_limits(settings))
        metrics.watch_ingest(service.stats)
        metrics.watch_stream(lambda: pipeline.stats)
        watch_health(metrics, health)
        watch_pool(metrics, "main", pool)

        def stats() -> dict[str, Any]:
            return {
                "ingest": service.stats.snapshot(service.tracker),
                "stream": dataclasses.asdict(pipeline.stats),
                "alarms": dict(health.active),
            }

        server = build_api_server(settings, pool, mode, stats, relay=service, metrics=metrics)
        receiver = build_receiver(settings)
        watch_backlog(metrics, lambda: receiver.backlog + bus.waiting)
        ingest_tasks = await start_ingest_tasks(settings, pool, service, receiver, metrics)

        async def lag() -> int:
            return receiver.backlog + bus.waiting

        s = settings.stream
        tasks = [
            bus.run(),
            overrides_watcher(settings, pool, core),
            ticker(pipeline, lock, s.tick_s),
            snapshotter(pool, core, lock, s.snapshot_s, RETRIABLE),
            health_monitor(pipeline, health, PgTechnicalAlarms(pool), lag, "embedded runner"),
            escalation_timers(settings, pool),
            outbox_sender(settings, pool),
            *risk_tasks(settings, pool),
            *program_tasks(settings, pool),
            *ingest_tasks,
        ]
        log.info("embedded runner up: ingest, stream and API on %s", settings.api.base_url)
        try:
            await _until_stopped(tasks, server)
        finally:
            await store.close()


async def run_ingest(settings: Settings) -> None:
    await asyncio.to_thread(report_mode, settings)
    async with open_pool(settings) as pool:
        k = settings.kafka
        await ensure_topic(k.bootstrap, k.readings_topic, k.partitions)
        handoff = KafkaHandoff(k.bootstrap, k.readings_topic)
        await handoff.start()
        try:
            service = build_ingest(settings, pool, handoff)
            receiver = build_receiver(settings)
            metrics = Metrics()
            metrics.watch_ingest(service.stats)
            watch_pool(metrics, "main", pool)
            watch_backlog(metrics, lambda: receiver.backlog)
            tasks = await start_ingest_tasks(settings, pool, service, receiver, metrics)
            serve_exporter(metrics, settings, "ingest")
            # Tier-1 delivery runs here in the distributed deployment: the ingest is the process
            # that holds the broker account; the internet-facing API process holds none.
            tasks.append(outbox_sender(settings, pool))
            log.info(
                "ingest up, handing off to Kafka (%s): %s", k.bootstrap, handoff.effective_config()
            )
            await _until_stopped(tasks)
        finally:
            await handoff.stop()


async def run_api(settings: Settings) -> None:
    mode = await asyncio.to_thread(report_mode, settings)
    async with open_pool(settings) as pool:
        metrics = Metrics()
        watch_pool(metrics, "main", pool)
        server = build_api_server(settings, pool, mode, None, metrics=metrics)
        # The API process keeps the escalation timers in the distributed deployment (the
        # Faust workers write alerts; their deadlines reach this process by NOTIFY).
        await _until_stopped(
            [escalation_timers(settings, pool), *program_tasks(settings, pool),
             *risk_tasks(settings, pool)],
            server,
        )  # fmt: skip


def program_tasks(settings: Settings, pool: AsyncConnectionPool) -> list[Coroutine[Any, Any, None]]:
    """The care program's scheduler (reminders, advice, stopped measuring), where the escalation
    timers run: the embedded runner, or the API process in the distributed deployment."""
    p = settings.program
    if not p.enabled:
        return []
    scheduler = ProgramScheduler(pool, PgAlertStore(pool, utc_now), utc_now, tick_s=p.tick_s,
                                 catch_up_s=p.catch_up_s, retriable=RETRIABLE)  # fmt: skip
    return [scheduler.run()]


async def escalation_timers(settings: Settings, pool: AsyncConnectionPool) -> None:
    response = PgResponse(pool, utc_now)
    await DeadlineTimers(response, settings.db.dsn.get_secret_value(), utc_now).run()


def risk_tasks(settings: Settings, pool: AsyncConnectionPool) -> list[Awaitable[None]]:
    """The care program's risk passes (program.recompute) and the refresh of the KPIs' daily
    aggregate (reports.kpi_queries), each unless disabled."""
    r, k = settings.risk, settings.kpis
    tasks: list[Awaitable[None]] = []
    if r.enabled:
        tasks.append(risk_loop(pool, utc_now, r.interval_s, r.full_every_s, RETRIABLE))
    if k.enabled:
        tasks.append(kpi_refresh_loop(pool, k.refresh_s, RETRIABLE))
    return tasks


async def outbox_sender(settings: Settings, pool: AsyncConnectionPool) -> None:
    """Tier-1 patient messages out of the outbox to the devices (alerts.outbox), published as
    the ingest's broker account with a client id of its own and a clean session."""
    m, o = settings.mqtt, settings.outbox
    host, port, tls = m.service_endpoint()
    publisher = MqttPublisher(host=host, port=port, tls=tls, username=m.username,
                              password=m.password.get_secret_value(),
                              client_id=f"{m.client_id}-downlink-{secrets.token_hex(4)}",
                              keepalive_s=m.keepalive_s)  # fmt: skip
    sender = OutboxSender(pool, settings.db.dsn.get_secret_value(), publisher, clock=utc_now,
                          batch_max=o.batch_max, poll_s=o.poll_s,
                          publish_timeout_s=o.publish_timeout_s,
                          backoff=Backoff(o.retry_base_s, o.retry_max_s),
                          stuck_after_s=o.stuck_after_s)  # fmt: skip
    try:
        await sender.run()
    finally:
        await publisher.close()


async def _until_stopped(
    coros: Sequence[Awaitable[None]], server: uvicorn.Server | None = None
) -> None:
    """Run the coroutines until SIGINT/SIGTERM or until one of them ends; then stop the rest.
    The API server is asked to finish its requests and lifespan first; the rest is cancelled."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    install_task_dump(loop)
    log.info("start-up done: %d objects exempt from the collector's passes", heap.settle())
    tasks = [asyncio.ensure_future(c) for c in coros]
    serving = asyncio.ensure_future(server.serve()) if server is not None else None
    stopper = asyncio.ensure_future(stop.wait())
    everything = [*tasks, *([serving] if serving else []), stopper]
    try:
        done, _ = await asyncio.wait(everything, return_when=asyncio.FIRST_COMPLETED)
        for t in done:
            if t is not stopper and t.exception() is not None:
                raise t.exception()  # type: ignore[misc]
    finally:
        if server is not None and serving is not None:
            server.should_exit = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(serving), 10)
        for t in everything:
            t.cancel()
        await asyncio.gather(*everything, return_exceptions=True)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
