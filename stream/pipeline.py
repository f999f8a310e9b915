"""One batch through the stream stage: detect, then store readings and detections durably.

Both runners (the embedded in-process bus and the Faust worker) call `StreamPipeline.process`
with a batch of bound messages and treat its return as "durable": only then do they resolve the
ingest's hand-off (embedded) or let Faust commit the offsets and write the operator state to its
changelog (Kafka). The operator runs once per batch (it is pure and fast, and it must not see a
batch twice); its results, readings with their late flags and the detections, are then written
with retries until the database takes them. Everything written is idempotent: readings on their
natural key, detections and alert events on their deterministic ids.

Reads no clock: the runner passes the processing time of each batch (`now`, epoch seconds) and
injects a monotonic clock for the health bookkeeping (`PipelineStats`, watched by the runner's
health monitor) and for the batch's duration, which goes with its size and its last reading's
receipt and measurement times to the injected `observe` (the operators' metrics,
`ingest.metrics.BatchMetrics.batch`; once per batch, never per reading). Must not: import an
I/O library or decide what a reading means (the operator does).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Protocol

from ingest.bound import BoundMessage
from ingest.logs import refs
from ingest.ports import RejectionStore
from ingest.quarantine import isolating, quarantined, seq_reused
from ingest.retry import describe, retrying
from stream.core import StreamCore
from stream.detections import Detection
from stream.operator import Outcome

log = logging.getLogger(__name__)

LateKeys = AbstractSet[tuple[str, int, str]]


class ReadingStore(Protocol):
    async def write(
        self,
        messages: Sequence[BoundMessage],
        late: LateKeys,
        reused: list[BoundMessage] | None = None,
    ) -> int:
        """Store; return the new readings; append to `reused` what a stored seq refused."""


class DetectionSink(Protocol):
    async def record(self, detections: Sequence[Detection]) -> None: ...


# (messages, seconds, the last message's receipt and measurement times in epoch seconds)
ObserveBatch = Callable[[int, float, float, float], None]


@dataclass(slots=True)
class PipelineStats:
    batches: int = 0
    messages: int = 0
    readings_new: int = 0
    late: int = 0
    detections: int = 0
    last_batch_at: float = 0.0  # monotonic; for the "no data" alarm (starts at construction)
    write_failures: int = 0
    quarantined: int = 0  # messages the store refused, kept in rejected_readings instead
    seq_reused: int = 0  # copies of a stored seq with other content: refused, not stored
    failing_since: float | None = None  # monotonic start of the current run of refused writes


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    messages: int
    readings_new: int
    detections: tuple[Detection, ...]


class StreamPipeline:
    def __init__(
        self,
        store: ReadingStore,
        sink: DetectionSink,
        core: StreamCore,
        *,
        monotonic: Callable[[], float],
        retriable: tuple[type[BaseException], ...] = (),
        quarantine: RejectionStore | None = None,
        observe: ObserveBatch | None = None,
    ) -> None:
        self._store = store
        self._observe = observe
        self._quarantine = quarantine
        self._sink = sink
        self.core = core
        self._monotonic = monotonic
        self._retriable = retriable
        self.stats = PipelineStats(last_batch_at=monotonic())

    async def process(self, messages: Sequence[BoundMessage], now: float) -> BatchOutcome:
        """Detect (at processing time `now`, epoch seconds), then store durably."""
        started = self._monotonic()
        out = self.core.process(messages, now)
        new = await retrying(
            self._write,
            (messages, out),
            retriable=self._retriable,
            what=f"storing a batch of {len(messages)} messages",
            log=log,
        )
        s = self.stats
        s.batches += 1
        s.messages += len(messages)
        s.readings_new += new
        s.late += len(out.late)
        s.detections += len(out.detections)
        s.last_batch_at = self._monotonic()
        if self._observe is not None and messages:
            last = messages[-1].message
            self._observe(len(messages), s.last_batch_at - started,
                          last.received_at.timestamp(), last.measured_at.timestamp())  # fmt: skip
        return BatchOutcome(len(messages), new, tuple(out.detections))

    async def tick(self, now: float) -> tuple[Detection, ...]:
        """Timers: idle flush, unconfirmable values, silence. Returns what they detected."""
        out = self.core.tick(now)
        if out.detections:
            await retrying(
                self._record,
                out.detections,
                retriable=self._retriable,
                what="storing timer detections",
                log=log,
            )
            self.stats.detections += len(out.detections)
        return tuple(out.detections)

    async def _write(self, work: tuple[Sequence[BoundMessage], Outcome]) -> int:
        messages, out = work
        try:
            reused: list[BoundMessage] = []
            new = await self._write_readings(messages, out.late, reused)
            detections = out.detections
            if reused:
                await self._refuse_reused(reused)
                refused = {b.message.key for b in reused}
                detections = [d for d in detections if (d.device_id, d.seq) not in refused]
            await self._record(detections)
        except BaseException:
            self.stats.write_failures += 1
            if self.stats.failing_since is None:
                self.stats.failing_since = self._monotonic()
            raise
        self.stats.failing_since = None
        return new

    async def _refuse_reused(self, reused: list[BoundMessage]) -> None:
        """A stored seq sent again with other content: neither kept nor dropped silently."""
        self.stats.seq_reused += len(reused)
        devices = sorted({b.message.device_id for b in reused})
        log.warning("refused %d reused seqs (%d devices: %s)", len(reused), len(devices),
                    refs(devices))  # fmt: skip
        if self._quarantine is not None:
            await self._quarantine.store([seq_reused(b) for b in reused])

    async def _write_readings(
        self, messages: Sequence[BoundMessage], late: LateKeys, reused: list[BoundMessage]
    ) -> int:
        """Store the readings; with a quarantine, a message the store refuses (an error that is
        not retriable) is isolated and kept there, and the rest of the batch is stored. Its
        detections stand: its values passed the contract, only storing it failed."""
        if self._quarantine is None:
            return await self._store.write(messages, late, reused)

        async def write(part: Sequence[BoundMessage]) -> int:
            return await self._store.write(part, late, reused)

        new, failed = await isolating(write, messages, retriable=self._retriable)
        if failed:
            await self._quarantine.store([quarantined(b, exc) for b, exc in failed])
            self.stats.quarantined += len(failed)
            log.error("quarantined %d messages the store refused (%s)", len(failed),
                      ", ".join(sorted({describe(exc) for _, exc in failed})))  # fmt: skip
        return new

    async def _record(self, detections: Sequence[Detection]) -> None:
        if detections:
            await self._sink.record(detections)
