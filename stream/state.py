"""Per-patient operator state: one `StreamState` per (device, metric), plus patient-level NEWS2
state. Plain slotted classes over numpy windows; serialised compactly for Faust tables.

A stream is one device's readings of one metric: the unit of event-time ordering (a device
sends in order; devices of one patient do not wait for each other). Its watermark is the latest
measurement time seen minus the allowed lateness, or, once the stream has been quiet for the
idle-flush time, the latest measurement time itself. Readings at or before the watermark are
final and are processed in event-time order; a reading that arrives behind the watermark is
late (stored and flagged, never paged retroactively).
"""

from __future__ import annotations

import array
import heapq
import math
import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson

from stream.window import Baseline, RingWindow

NEG_INF = -math.inf


class Reading(NamedTuple):
    t: float  # measurement time, epoch seconds
    seq: int
    value: float
    arrived: float  # when the operator got it (processing time, epoch seconds)


@dataclass(slots=True)
class RuleState:
    active: bool = False
    clear_count: int = 0
    pending: Reading | None = None  # CONFIRMED rules: the reading awaiting a re-measure
    area: float = 0.0  # desaturation rules: the area below the limit so far (%-seconds)
    streak: int = 0  # forecast rules: readings in a row at which the prediction held

    def to_json(self) -> list[Any]:
        pending = list(self.pending) if self.pending else None
        return [self.active, self.clear_count, pending, self.area, self.streak]

    @classmethod
    def from_json(cls, raw: list[Any]) -> RuleState:
        pending = Reading(*raw[2]) if raw[2] is not None else None
        area = float(raw[3]) if len(raw) > 3 else 0.0  # (states stored before issue 12)
        streak = int(raw[4]) if len(raw) > 4 else 0
        return cls(bool(raw[0]), int(raw[1]), pending, area, streak)


class StreamState:
    __slots__ = (
        "baseline",
        "cadence_s",
        "dedupe_memory",
        "device_id",
        "device_kind",
        "kf",
        "last_seen",
        "max_t",
        "metric",
        "pending",
        "recent",
        "rules",
        "silent",
        "window",
        "wm",
    )

    def __init__(
        self,
        device_id: str,
        metric: str,
        device_kind: str,
        cadence_s: float | None,
        window: RingWindow,
        baseline: Baseline,
        dedupe_memory: int,
    ) -> None:
        self.device_id, self.metric = device_id, metric
        self.device_kind, self.cadence_s = device_kind, cadence_s
        self.window, self.baseline = window, baseline
        self.max_t = NEG_INF
        self.wm = NEG_INF
        self.last_seen = NEG_INF
        self.pending: list[Reading] = []  # a heap by (t, seq); a few readings at most
        # The last `dedupe_memory` finalised seqs, as machine integers: a list would hold an int
        # object per seq (~450 bytes more per stream at 16 seqs), a deque a 64-slot block.
        self.recent = array.array("q")
        self.dedupe_memory = dedupe_memory
        self.rules: dict[str, RuleState] = {}
        self.silent = False
        self.kf: list[float] | None = None  # CGM streams: the Kalman filter (stream/kalman.py)

    def seen(self, seq: int) -> bool:
        if seq in self.recent:
            return True
        # A plain loop: any() over a generator measured twice as slow here (the hot path).
        for r in self.pending:  # noqa: SIM110
            if r.seq == seq:
                return True
        return False

    def add_pending(self, r: Reading) -> None:
        heapq.heappush(self.pending, r)
        if r.t > self.max_t:
            self.max_t = r.t

    def pop_final(self) -> Reading | None:
        if self.pending and self.pending[0].t <= self.wm:
            r = heapq.heappop(self.pending)
            self.recent.append(r.seq)
            if len(self.recent) > self.dedupe_memory:
                del self.recent[0]
            return r
        return None

    def rule(self, rule_id: str) -> RuleState:
        state = self.rules.get(rule_id)
        if state is None:
            state = self.rules[rule_id] = RuleState()
        return state

    def last_seq(self) -> int:
        return self.recent[-1] if self.recent else -1

    def pack(self) -> bytes:
        meta = orjson.dumps(
            {
                "d": self.device_id,
                "m": self.metric,
                "k": self.device_kind,
                "c": self.cadence_s,
                "x": _num(self.max_t),
                "w": _num(self.wm),
                "l": _num(self.last_seen),
                "p": [list(r) for r in self.pending],
                "r": list(self.recent),
                "s": self.silent,
                "u": {k: v.to_json() for k, v in self.rules.items()},
                "f": self.kf,
            }
        )
        return _frame(meta, self.window.to_bytes(), self.baseline.to_bytes())

    @classmethod
    def unpack(cls, data: bytes, alpha: float, dedupe_memory: int) -> StreamState:
        meta_raw, window_raw, baseline_raw = _unframe(data, 3)
        meta = orjson.loads(meta_raw)
        s = cls(
            meta["d"],
            meta["m"],
            meta["k"],
            meta["c"],
            RingWindow.from_bytes(window_raw, alpha),
            Baseline.from_bytes(baseline_raw),
            dedupe_memory,
        )
        s.max_t, s.wm, s.last_seen = _float(meta["x"]), _float(meta["w"]), _float(meta["l"])
        s.pending = [Reading(*r) for r in meta["p"]]
        heapq.heapify(s.pending)
        s.recent = array.array("q", [int(x) for x in meta["r"]][-dedupe_memory:])
        s.silent = meta["s"]
        s.rules = {k: RuleState.from_json(v) for k, v in meta["u"].items()}
        kf = meta.get("f")
        s.kf = None if kf is None else [float(x) for x in kf]
        return s


@dataclass(slots=True)
class PatientState:
    patient_id: str
    streams: dict[tuple[str, str], StreamState] = field(default_factory=dict)
    # NEWS2 evaluation points waiting for every vitals stream's watermark: (t, metric, device, seq)
    news2_points: list[tuple[float, str, str, int]] = field(default_factory=list)
    news2_rules: dict[str, RuleState] = field(default_factory=dict)

    def pack(self) -> bytes:
        meta = orjson.dumps(
            {
                "p": self.patient_id,
                "n": [list(x) for x in self.news2_points],
                "u": {k: v.to_json() for k, v in self.news2_rules.items()},
            }
        )
        return _frame(meta, *(s.pack() for s in self.streams.values()))

    @classmethod
    def unpack(cls, data: bytes, alpha: float, dedupe_memory: int) -> PatientState:
        meta_raw, *stream_raws = _unframe(data)
        meta = orjson.loads(meta_raw)
        state = cls(meta["p"])
        for raw in stream_raws:
            s = StreamState.unpack(raw, alpha, dedupe_memory)
            state.streams[(s.device_id, s.metric)] = s
        state.news2_points = [(float(a), str(b), str(c), int(d)) for a, b, c, d in meta["n"]]
        state.news2_rules = {k: RuleState.from_json(v) for k, v in meta["u"].items()}
        return state


def to_datetime(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _num(x: float) -> float | None:
    return None if math.isinf(x) else x


def _float(x: float | None) -> float:
    return NEG_INF if x is None else float(x)


def _frame(*chunks: bytes) -> bytes:
    return b"".join(struct.pack("<I", len(c)) + c for c in chunks)


def _unframe(data: bytes, expected: int | None = None) -> list[bytes]:
    chunks, off = [], 0
    while off < len(data):
        (n,) = struct.unpack_from("<I", data, off)
        chunks.append(data[off + 4 : off + 4 + n])
        off += 4 + n
    if expected is not None and len(chunks) != expected:
        raise ValueError(f"corrupt state: {len(chunks)} chunks, expected {expected}")
    return chunks
