"""The Faust runner: the stream pipeline as a faust-streaming agent on the readings topic.

The readings topic is keyed by patient id, so each patient's readings arrive in order on one
partition and one worker at a time. The agent takes batches (`stream.take`) and runs them
through the same `StreamPipeline` as the embedded runner. faust-streaming acknowledges the
events of a `take` batch only after the loop body for that batch has finished, so offsets are
committed only after the database write (DESIGN 9.4). A database outage retries the batch with
backoff, holding the partition and its offsets; a record this version cannot read is logged at
ERROR and skipped (it did not come from our ingest).

`build_app` receives a factory for the pipeline, called once inside the worker's event loop,
because database connections belong to the loop that opened them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import faust

from ingest import bound
from ingest.bound import BoundMessage, WireFormatError
from ingest.retry import retrying
from stream.pipeline import StreamPipeline

log = logging.getLogger(__name__)

PipelineFactory = Callable[[], Awaitable[StreamPipeline]]


def build_app(
    *,
    app_id: str,
    bootstrap: str,
    topic: str,
    partitions: int,
    datadir: Path,
    pipeline_factory: PipelineFactory,
    retriable: tuple[type[BaseException], ...],
    batch_max: int = 2_000,
    batch_within_s: float = 0.01,
) -> faust.App:
    app = faust.App(
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
    )
    readings_topic = app.topic(topic, key_type=bytes, value_type=bytes, partitions=partitions)
    holder = _PipelineHolder(pipeline_factory)

    @app.agent(readings_topic)
    async def process_readings(stream: Any) -> None:
        async for values in stream.take(batch_max, within=batch_within_s):
            messages = decode_batch(values)
            pipeline = await holder.get()
            what = f"storing a batch of {len(messages)} messages"
            await retrying(pipeline.process, messages, retriable=retriable, what=what, log=log)

    app.vigil_pipeline = holder  # type: ignore[attr-defined]  # for tests and stats
    return app


def decode_batch(values: Sequence[bytes]) -> list[BoundMessage]:
    messages = []
    for value in values:
        try:
            messages.append(bound.decode(value))
        except WireFormatError as exc:
            log.error("unreadable record on the readings topic skipped: %s", exc)
    return messages


class _PipelineHolder:
    def __init__(self, factory: PipelineFactory) -> None:
        self._factory = factory
        self._pipeline: StreamPipeline | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> StreamPipeline:
        async with self._lock:
            if self._pipeline is None:
                self._pipeline = await self._factory()
            return self._pipeline

    @property
    def current(self) -> StreamPipeline | None:
        return self._pipeline
