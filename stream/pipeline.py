"""One batch through the stream stage: store readings, detect, record detections.

Both runners (the embedded in-process bus and the Faust worker) call `StreamPipeline.process`
with a batch of bound messages and treat its return as "durable": only then do they resolve the
ingest's hand-off (embedded) or let Faust commit the offsets (Kafka). A failure raises and the
batch is retried; every step is idempotent on the readings' natural key and detection ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ingest.bound import BoundMessage
from stream.detect import ThresholdDetector
from stream.detections import Detection


class ReadingStore(Protocol):
    async def write(self, messages: Sequence[BoundMessage]) -> int: ...


class DetectionSink(Protocol):
    async def record(self, detections: Sequence[Detection]) -> None: ...


@dataclass(slots=True)
class PipelineStats:
    batches: int = 0
    messages: int = 0
    readings_new: int = 0
    detections: int = 0


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    messages: int
    readings_new: int
    detections: tuple[Detection, ...]


class StreamPipeline:
    def __init__(
        self, store: ReadingStore, sink: DetectionSink, detector: ThresholdDetector | None = None
    ) -> None:
        self._store = store
        self._sink = sink
        self._detector = detector or ThresholdDetector()
        self.stats = PipelineStats()

    async def process(self, messages: Sequence[BoundMessage]) -> BatchOutcome:
        new = await self._store.write(messages)
        detections = self._detector.detect(messages)
        if detections:
            await self._sink.record(detections)
        s = self.stats
        s.batches += 1
        s.messages += len(messages)
        s.readings_new += new
        s.detections += len(detections)
        return BatchOutcome(len(messages), new, tuple(detections))
