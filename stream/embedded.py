"""The embedded runner: an in-process bus between ingest and the stream pipeline.

`EmbeddedBus` is the ingest's `ReadingHandoff` when there is no Kafka. `hand_off` enqueues the
batch with a future and waits for it; `run` drains the queue in batches through the same
`StreamPipeline` the Faust worker uses, and resolves the futures once the batch is committed to
PostgreSQL. So in embedded mode a device's PUBACK means "stored", which is stricter than Kafka
mode's "in the replicated log". The queue is bounded: a slow database slows the ingest down,
which slows the broker's deliveries (they wait for PUBACKs), which is the backpressure we want.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from ingest.bound import BoundMessage
from ingest.retry import describe
from stream.pipeline import StreamPipeline

log = logging.getLogger(__name__)

_Item = tuple[Sequence[BoundMessage], asyncio.Future[None]]


class EmbeddedBus:
    def __init__(
        self,
        pipeline: StreamPipeline,
        lock: asyncio.Lock | None = None,
        *,
        max_batch: int = 2_000,
        max_queued: int = 64,
    ) -> None:
        self._pipeline = pipeline
        self._lock = lock or asyncio.Lock()
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Item] = asyncio.Queue(maxsize=max_queued)
        self.waiting = 0  # messages handed off and not yet processed (the embedded "lag")

    async def hand_off(self, messages: Sequence[BoundMessage]) -> None:
        if not messages:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting += len(messages)
        try:
            await self._queue.put((messages, done))
            await done
        finally:
            self.waiting -= len(messages)

    async def run(self) -> None:
        """Drain the queue until cancelled. A failed batch fails its hand-offs (not the runner)."""
        queue = self._queue
        while True:
            items = [await queue.get()]
            size = len(items[0][0])
            while size < self._max_batch and not queue.empty():
                item = queue.get_nowait()
                items.append(item)
                size += len(item[0])
            batch = [m for messages, _ in items for m in messages]
            try:
                async with self._lock:
                    await self._pipeline.process(batch, time.time())
            except Exception as exc:  # the hand-offs see it; the ingest acknowledges nothing
                # Class and SQLSTATE only: database messages can quote row values (PHI).
                log.error("stream batch of %d messages failed: %s", len(batch), describe(exc))
                for _, done in items:
                    if not done.done():
                        done.set_exception(exc)
            else:
                for _, done in items:
                    if not done.done():
                        done.set_result(None)
