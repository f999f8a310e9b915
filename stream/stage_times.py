"""Where readings wait on their way through the Faust worker: per-stage latencies, aggregated.

Each processed record contributes one sample per stage (epoch seconds, one clock per machine):

- `measured_to_ingest`: measurement time -> MQTT receipt at the ingest (device and broker; in
  `vigil bench stream` devices publish at measurement time, so this is the MQTT hop);
- `ingest_to_kafka`: MQTT receipt -> the record's Kafka timestamp: the broker's append time on
  a topic created by `ingest.kafka.ensure_topic` (the ingest's decode batch, producer linger,
  the produce request); the producer's send time on an older topic (CreateTime);
- `kafka_to_faust`: Kafka timestamp -> Faust's consumer handed the record to the stream (the
  consumer's fetch, Faust's fetch loop on the worker's event loop);
- `faust_to_batch`: consumer receipt -> the batch holding it starts (Faust's stream buffer and
  `take(within=)`);
- `batch_to_commit`: batch start -> its database transaction committed (decode, operator,
  readings and detections written; a detection row is stamped inside this stage).

The worker logs `summary()` with each tick; the bench reads the last one. Pure: every time is
passed in. Must not: read clocks, log or do I/O.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

STAGES = ("measured_to_ingest", "ingest_to_kafka", "kafka_to_faust", "faust_to_batch",
          "batch_to_commit")  # fmt: skip
KEEP = 5_000  # samples kept per stage: the summary is of the last ~10 s at 1,000 readings/s


class StageTimes:
    def __init__(self, keep: int = KEEP) -> None:
        self._samples = {stage: deque[float](maxlen=keep) for stage in STAGES}
        self.recorded = 0

    def record(
        self,
        records: Iterable[tuple[float, float, float, float | None]],
        batch_start: float,
        committed: float,
    ) -> None:
        """`records`: (measured, received, kafka timestamp, consumer receipt or None) each."""
        s = self._samples
        for measured, received, appended, fetched in records:
            s["measured_to_ingest"].append(received - measured)
            s["ingest_to_kafka"].append(appended - received)
            if fetched is not None:
                s["kafka_to_faust"].append(fetched - appended)
                s["faust_to_batch"].append(batch_start - fetched)
            s["batch_to_commit"].append(committed - batch_start)
            self.recorded += 1

    def summary(self) -> dict[str, dict[str, float]]:
        """Per stage with samples: p50, p99 and max in milliseconds, and the sample count."""
        return {
            stage: _figures(sorted(samples)) for stage, samples in self._samples.items() if samples
        }


def _figures(xs: list[float]) -> dict[str, float]:
    def rank(p: float) -> float:
        return round(xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))] * 1000, 1)

    return {"p50_ms": rank(50), "p99_ms": rank(99), "max_ms": rank(100), "n": len(xs)}
