"""`state_bytes_per_patient` of `vigil bench stream`: the operator's state, measured.

Resident memory per patient of the stream operator's state (100,000 patients by default, with 4
metric streams each, at steady state) and the serialised size that goes to the Faust changelog.
Must not: start services; it runs the pure stream core in this process.
"""

from __future__ import annotations

import gc
import os
import statistics
from datetime import UTC, datetime, timedelta

from ingest.bound import BoundMessage
from ingest.contract import DeviceMessage, Measurement
from stream.core import StreamCore
from stream.operator import StreamOperator


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def state_bytes(patients: int = 100_000) -> dict[str, float]:
    """Resident and serialised operator state per patient, 4 streams each, at steady state:
    enough readings per stream to fill its duplicate memory (windows are allocated whole), with
    sequence numbers of a device that has been running for a while."""
    core = StreamCore(StreamOperator())
    per_stream = core.operator.config.dedupe_memory + 2
    gc.collect()
    before = rss_bytes()
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    streams = (
        ("cgm", "cgm", "glucose", 120.0),
        ("watch", "wearable", "heart_rate", 72.0),
        ("watch", "wearable", "spo2", 97.0),
        ("cuff", "bp_cuff", "systolic_bp", 128.0),
    )
    for i in range(patients):
        pid = f"p{i}"
        for k in range(per_stream):
            t = t0 + timedelta(minutes=5 * k)
            seq = 10_000 + k
            batch = [
                BoundMessage(
                    pid,
                    DeviceMessage(f"{pid}-{dev}", seq, t, t, (Measurement(m, v, "u", v, "u"),)),
                    kind,
                    300.0,
                )
                for dev, kind, m, v in streams
            ]
            core.process(batch, t.timestamp())
        core.changed.clear()
    core.tick(t0.timestamp() + per_stream * 300 + 3600)
    gc.collect()
    grown = rss_bytes() - before
    sample = [s for _, s in zip(range(1000), core.store.all(), strict=False)]
    packed = statistics.mean(len(s.pack()) for s in sample)
    return {
        "state_bytes_per_patient": round(grown / patients),
        "state_serialized_bytes": round(packed),
    }
