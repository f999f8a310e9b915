"""Building blocks for clinical scenario tests of the stream operator: readings in, detections out.

A scenario is a list of device messages with measurement times in minutes from T0. Each message
is received `delay_s` after it was measured (5 s unless a test says otherwise). `run` feeds them
to a fresh operator in the given arrival order and finishes with one tick after everything has
arrived, so that quiet streams are flushed, the way the runners' timers do it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ingest.bound import BoundMessage
from ingest.contract import METRICS, DeviceMessage, Measurement
from stream.core import StreamCore
from stream.detections import Detection, Kind
from stream.operator import OperatorConfig, StreamOperator
from stream.overrides import OverrideIndex
from stream.rules import DEFAULT_RULES

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
PATIENT = "p1"
KIND_CADENCE = {
    "cgm": 300.0,
    "wearable": 60.0,
    "bp_cuff": 43200.0,
    "glucometer": 21600.0,
    "scale": 86400.0,
}


@dataclass(frozen=True, slots=True)
class At:
    """One device message: `minutes` after T0, from `device` of `kind`, with metric values."""

    device: str
    kind: str
    seq: int
    minutes: float
    values: tuple[tuple[str, float], ...]
    delay_s: float = 5.0
    patient: str = PATIENT

    def bound(self) -> BoundMessage:
        t = T0 + timedelta(minutes=self.minutes)
        ms = tuple(
            Measurement(m, v, METRICS[m].canonical_unit, v, METRICS[m].canonical_unit)
            for m, v in self.values
        )
        message = DeviceMessage(self.device, self.seq, t, t + timedelta(seconds=self.delay_s), ms)
        return BoundMessage(self.patient, message, self.kind, KIND_CADENCE[self.kind])


def series(device: str, kind: str, metric: str, values: Sequence[float], every_min: float,
           start_min: float = 0.0, first_seq: int = 0) -> list[At]:  # fmt: skip
    return [
        At(device, kind, first_seq + i, start_min + i * every_min, ((metric, v),))
        for i, v in enumerate(values)
    ]


def bp(
    seq: int, minutes: float, sbp: float, dbp: float, hr: float = 72.0, delay_s: float = 5.0
) -> At:
    values = (("systolic_bp", sbp), ("diastolic_bp", dbp), ("heart_rate", hr))
    return At("cuff", "bp_cuff", seq, minutes, values, delay_s)


def operator(overrides: OverrideIndex | None = None, **config: float) -> StreamOperator:
    return StreamOperator(DEFAULT_RULES, OperatorConfig(**config), overrides)  # type: ignore[arg-type]


def run(messages: Iterable[At], *, ticks_at_min: Sequence[float] = (), op: StreamOperator | None = None,
        core: StreamCore | None = None, final_tick: bool = True,
        since: datetime = T0) -> list[Detection]:  # fmt: skip
    """Feed the messages in order; tick at the given minutes (processing time) and at the end.

    The final tick comes a minute after the last arrival, counted from ``since`` when this call
    carries on from an earlier one (so an empty continuation still ticks after the data).
    """
    core = core or StreamCore(op or operator())
    found: list[Detection] = []
    pending_ticks = sorted(ticks_at_min)
    last_received = since
    for m in messages:
        b = m.bound()
        while pending_ticks and T0 + timedelta(minutes=pending_ticks[0]) <= b.message.received_at:
            found += core.tick(
                (T0 + timedelta(minutes=pending_ticks.pop(0))).timestamp()
            ).detections
        found += core.process([b], b.message.received_at.timestamp()).detections
        last_received = max(last_received, b.message.received_at)
    for minute in pending_ticks:
        found += core.tick((T0 + timedelta(minutes=minute)).timestamp()).detections
    if final_tick:
        found += core.tick(last_received.timestamp() + 60.0).detections
    return found


def fired(found: Iterable[Detection], *, late: bool = False) -> set[tuple[str, int, str]]:
    return {(d.rule_id, d.seq, d.metric) for d in found if d.kind is Kind.FIRED and d.late is late}


def cleared(found: Iterable[Detection]) -> set[tuple[str, int, str]]:
    return {(d.rule_id, d.seq, d.metric) for d in found if d.kind is Kind.CLEARED}


def rules_fired(found: Iterable[Detection]) -> set[str]:
    return {d.rule_id for d in found if d.kind is Kind.FIRED and not d.late}
