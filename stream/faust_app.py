"""The Faust runner: the stream pipeline as a faust-streaming agent, its state in a table.

The readings topic is keyed by patient id, so each patient's readings arrive in order on one
partition and one worker at a time. Per batch (`noack_take`):

1. admit the records in offset order (`stream/offsets.py`: Faust can drop fetched records
   around a rebalance; a partition with missing records is sought back, nothing is skipped),
   then decode them (a record this version cannot read is logged at ERROR and skipped: it did
   not come from our ingest);
2. `StreamPipeline.process`: the operator runs once, then readings and detections are written to
   PostgreSQL with retries while the database is unavailable;
3. the changed patients' operator state is written to the `vigil-stream-state` table, whose
   changelog topic is what a restarted worker recovers from;
4. only then are the batch's events acknowledged, so Faust commits their offsets only after the
   database write and the state write (DESIGN 9.4). An error that is not retriable crashes the
   worker before acknowledging anything; a restart re-reads the batch and, all writes being
   idempotent, nothing is lost or doubled.

The table uses the producer's key partitioner (`use_partitioner`): patient ids map to the same
partition number in the table's changelog as in the readings topic, and state can be written from
the timer as well as from the agent. The timer drives the operator's ticks (idle flush,
unconfirmable crisis values, silent devices). The agent, the timer and the rebalance signals
share one `_Worker` (offset guard, lock, busy flag); `build_app` only registers its methods.
`consumer_lag` is the health monitor's lag probe for this runner.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import faust

from ingest import bound
from ingest.bound import BoundMessage, WireFormatError
from ingest.retry import describe, retrying
from stream.core import StreamCore
from stream.faust_fetch import DEFAULT_FETCH_MAX_WAIT_MS, VigilFaustApp
from stream.offsets import STALL_S, Admit, OffsetGuard, rewind, start_positions
from stream.pipeline import StreamPipeline
from stream.stage_times import StageTimes
from stream.state import PatientState

log = logging.getLogger(__name__)

PipelineFactory = Callable[[StreamCore], Awaitable[StreamPipeline]]
STATE_TABLE = "vigil-stream-state"


class TableStore:
    """Operator states: decoded objects cached in memory in front of the changelogged table."""

    def __init__(self, table: Any, alpha: float, dedupe_memory: int) -> None:
        self.table = table  # public: the worker waits on its changelog topic before writing
        self._cache: dict[str, PatientState] = {}
        self._alpha, self._dedupe = alpha, dedupe_memory

    def get(self, patient_id: str) -> PatientState | None:
        state = self._cache.get(patient_id)
        if state is None:
            raw = self.table.get(patient_id.encode())
            if raw is not None:
                state = self._cache[patient_id] = PatientState.unpack(
                    raw, self._alpha, self._dedupe
                )
        return state

    def put(self, state: PatientState) -> None:
        self._cache[state.patient_id] = state

    def all(self) -> Iterator[PatientState]:
        for key in list(self.table.keys()):
            state = self.get(bytes(key).decode())
            if state is not None:
                yield state
        yield from [s for p, s in list(self._cache.items()) if p.encode() not in self.table]

    def persist(self, states: Sequence[PatientState]) -> None:
        for state in states:
            self.table[state.patient_id.encode()] = state.pack()

    def forget(self) -> None:
        """After a rebalance the table, not this cache, is the truth."""
        self._cache.clear()


def build_app(
    *,
    app_id: str,
    bootstrap: str,
    topic: str,
    partitions: int,
    datadir: Path,
    core: StreamCore,
    pipeline_factory: PipelineFactory,
    retriable: tuple[type[BaseException], ...],
    batch_max: int = 2_000,
    batch_within_s: float = 0.01,
    tick_s: float = 5.0,
    fetch_max_wait_ms: int = DEFAULT_FETCH_MAX_WAIT_MS,
) -> faust.App:
    app = _faust_app(app_id, bootstrap, partitions, datadir)
    app.fetch_max_wait_ms = fetch_max_wait_ms  # stream/faust_fetch.py: why
    readings_topic = app.topic(topic, key_type=bytes, value_type=bytes, partitions=partitions)
    table = app.Table(STATE_TABLE, default=None, partitions=partitions, key_type=bytes,
                      value_type=bytes, use_partitioner=True)  # fmt: skip
    op = core.operator
    core.store = store = TableStore(table, op.config.ewma_alpha, op.config.dedupe_memory)
    holder = _PipelineHolder(pipeline_factory, core)
    worker = _Worker(app, core, store, holder, topic=topic, retriable=retriable)

    @app.agent(readings_topic)
    async def process_readings(stream: Any) -> None:
        await worker.consume(stream, batch_max, batch_within_s)

    @app.timer(interval=tick_s)
    async def tick() -> None:
        await worker.tick()

    app.on_partitions_revoked.connect(worker.on_revoked)  # type: ignore[arg-type]  # mode's stubs
    app.on_rebalance_complete.connect(worker.on_rebalanced)  # type: ignore[arg-type]
    app.vigil_holder = holder  # type: ignore[attr-defined]  # for tests and stats
    return app


def _faust_app(app_id: str, bootstrap: str, partitions: int, datadir: Path) -> VigilFaustApp:
    return VigilFaustApp(
        app_id,
        broker=f"kafka://{bootstrap}",
        datadir=str(datadir),
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=partitions,
        topic_replication_factor=1,
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        stream_wait_empty=True,
        # A worker that dies is noticed within 10 s and its partitions (and their state) move
        # to the survivors; Faust's default of 60 s leaves patients unwatched for a minute.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=3.0,
    )


class _Worker:
    """What the agent, the timer and the rebalance signals share (the offset guard, the lock,
    whether a batch is in progress), and what each of them does with it."""

    def __init__(
        self,
        app: faust.App,
        core: StreamCore,
        store: TableStore,
        holder: _PipelineHolder,
        *,
        topic: str,
        retriable: tuple[type[BaseException], ...],
    ) -> None:
        self.app, self.core, self.store, self.holder = app, core, store, holder
        self.topic, self.retriable = topic, retriable
        self.guard = OffsetGuard()  # every record processed, in order (stream/offsets.py)
        self.busy = False  # the agent is inside a batch: no progress to expect meanwhile
        self.lock = asyncio.Lock()  # batches and ticks take turns: each is compute, write, persist
        self.stages = StageTimes()  # where readings waited (stream/stage_times.py), logged by tick

    async def consume(self, stream: Any, batch_max: int, within_s: float) -> None:
        """The agent: each batch admitted, processed, then acknowledged (module docstring)."""
        guard = self.guard
        async for batch in stream.noack_take(batch_max, within=within_s):
            self.busy = True
            started = (time.time(), time.monotonic())
            before = guard.positions({e.message.tp for e in batch})
            try:
                events, redelivered = await self._admit(batch)
                del batch  # drop the refused events: faust forgets unacked ones once collected
                await self._process(events, started)
                for event in (*events, *redelivered):
                    await stream.ack(event)
                guard.touch({e.message.tp for e in events}, time.monotonic())
            except BaseException:
                guard.restore(before)  # not processed: these records are to be read again
                raise
            finally:
                self.busy = False

    async def _process(self, events: Sequence[Any], started: tuple[float, float]) -> None:
        messages = decode_batch([e.value for e in events])
        try:
            pipeline = await retrying(self.holder.get, None, retriable=self.retriable,
                                      what="opening the database", log=log)  # fmt: skip
            async with self.lock:
                await pipeline.process(messages, time.time())
                if len(messages) == len(events):  # else a record was skipped: no pairing
                    self.stages.record(stage_records(events, messages, started), started[0],
                                       time.time())  # fmt: skip
                await changelog_known(self.store.table)
                self.store.persist(self.core.take_changed())
        except Exception as exc:  # not retriable: stop before anything is acknowledged
            log.critical(
                "stream batch failed (%s); stopping the worker unacknowledged", describe(exc)
            )
            # Faust logs the crash reason's repr: give it the class, never the message (PHI).
            await self.app.crash(RuntimeError(f"stream batch failed ({describe(exc)})"))
            raise

    async def _admit(self, batch: Sequence[Any]) -> tuple[list[Any], list[Any]]:
        """The batch's events in offset order, the redelivered ones, and a rewind for each
        partition with missing records (its later events are dropped unacknowledged)."""
        events, redelivered, now = [], [], time.monotonic()
        for event in batch:
            tp = event.message.tp
            verdict = self.guard.admit(tp, event.message.offset, now)
            if verdict is Admit.PROCESS:
                events.append(event)
            elif verdict is Admit.REDELIVERED:
                redelivered.append(event)
            elif self.guard.rewind_due(tp, now):
                await rewind(self.app.consumer, self.guard, tp, "records missing before this batch")
        return events, redelivered

    async def tick(self) -> None:
        """The timer: rewind stalled partitions, then the operator's ticks (idle flush,
        unconfirmable crisis values, silent devices), their state persisted like a batch's."""
        app = self.app
        if app.in_recovery or not app.tables.recovery.completed.is_set():  # type: ignore[attr-defined]
            return  # the table is still being rebuilt from its changelog: no state to tick yet
        now, consumer = time.monotonic(), app.consumer
        highwaters = (
            [] if self.busy else [(tp, consumer.highwater(tp)) for tp in consumer.assignment()]
        )
        for tp in self.guard.stalled(highwaters, now, STALL_S):
            if self.guard.rewind_due(tp, now):
                await rewind(consumer, self.guard, tp, "no progress although the topic has more")
        if self.stages.recorded:
            log.info("stage latency: %s", json.dumps(self.stages.summary()))
        pipeline = await self.holder.get(None)
        async with self.lock:
            await pipeline.tick(time.time())
            await changelog_known(self.store.table)
            self.store.persist(self.core.take_changed())

    async def on_revoked(self, sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        self.store.forget()
        self.guard.clear()

    async def on_rebalanced(self, sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        self.guard.start(await start_positions(self.app.consumer, self.topic), time.monotonic())


async def consumer_lag(app: faust.App) -> int:
    """Records on our partitions not yet committed (0 while partitions are being assigned)."""
    consumer = app.consumer
    lag = 0
    for tp in consumer.assignment():
        committed = consumer._committed_offset.get(tp) or 0  # type: ignore[attr-defined]  # no public accessor
        lag += max(0, (consumer.highwater(tp) or 0) - committed)
    return lag


async def changelog_known(table: Any) -> None:
    """Wait until the producer's metadata has the table's changelog topic (at once when it has).

    A table write picks its partition from the producer's metadata, synchronously, and fails
    with a TypeError when the topic is not in it. Faust refreshes that metadata once, right
    after creating the changelog topic; a KRaft broker may answer before the new topic has
    reached its metadata cache (~150 ms seen), and the producer then would not refresh again
    for `producer_metadata_max_age_ms` (5 min): a fresh worker would crash on its first write.
    """
    producer = table.app.producer._ensure_producer()  # faust has no public accessor
    await producer.partitions_for(table.changelog_topic.get_topic_name())


def stage_records(
    events: Sequence[Any], messages: Sequence[BoundMessage], started: tuple[float, float]
) -> Iterator[tuple[float, float, float, float | None]]:
    """Per record: measured, MQTT receipt, Kafka timestamp, consumer receipt (epoch seconds;
    Faust stamps the receipt on the monotonic clock, brought to the epoch via `started`)."""
    wall, mono = started
    for event, bound_message in zip(events, messages, strict=True):
        m = bound_message.message
        time_in = getattr(event.message, "time_in", None)
        fetched = None if time_in is None else wall - (mono - time_in)
        yield (m.measured_at.timestamp(), m.received_at.timestamp(), event.message.timestamp,
               fetched)  # fmt: skip


def decode_batch(values: Sequence[bytes]) -> list[BoundMessage]:
    messages = []
    for value in values:
        try:
            messages.append(bound.decode(value))
        except WireFormatError as exc:
            log.error("unreadable record on the readings topic skipped: %s", exc)
    return messages


class _PipelineHolder:
    def __init__(self, factory: PipelineFactory, core: StreamCore) -> None:
        self._factory = factory
        self._core = core
        self._pipeline: StreamPipeline | None = None
        self._lock = asyncio.Lock()

    async def get(self, _: object = None) -> StreamPipeline:
        async with self._lock:
            if self._pipeline is None:
                self._pipeline = await self._factory(self._core)
            return self._pipeline

    @property
    def current(self) -> StreamPipeline | None:
        return self._pipeline
