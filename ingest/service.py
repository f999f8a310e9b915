"""The ingest service: raw MQTT messages in, bound readings handed on, rejections stored.

`IngestService.handle` takes one batch of raw messages and returns only when every accepted
reading is durable downstream (`ReadingHandoff`) and every rejection is stored
(`RejectionStore`). Only then may the adapter send the MQTT PUBACKs and the devices' acks. If a
hand-off fails the exception propagates and nothing is acknowledged: the broker keeps the
messages and redelivers them, and everything downstream is idempotent on (device_id, seq).

No transport library is imported here; the adapters live in `mqtt.py`, `kafka.py` and
`repository.py`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ingest.bindings import BindingIndex
from ingest.bound import BoundMessage
from ingest.contract import DEFAULT_LIMITS, Limits, Rejection, RejectReason, decode
from ingest.logs import refs
from ingest.monitor import BadDataMonitor
from ingest.ports import (
    HandledSeqs,
    RawMessage,
    ReadingHandoff,
    RejectedRecord,
    RejectionStore,
    TechnicalAlarms,
    TechnicalAlert,
)
from ingest.quarantine import isolating, quarantined
from ingest.retry import describe
from ingest.sequence import SeqTracker

log = logging.getLogger(__name__)


@dataclass(slots=True)
class IngestStats:
    """Counters since start; logged periodically and exposed to the API."""

    messages: int = 0
    readings_accepted: int = 0
    quarantined: int = 0  # messages the hand-off refused, kept in rejected_readings instead
    rejected_bytes: int = 0  # size of the received payloads with a refusal, once per message
    rejected_bytes_stored: int = 0  # written to rejected_readings (redeliveries again)
    rejected: Counter[str] = field(default_factory=Counter)  # by reason, per rejection

    def snapshot(self, tracker: SeqTracker) -> dict[str, object]:
        return {
            "messages": self.messages,
            "readings_accepted": self.readings_accepted,
            "quarantined": self.quarantined,
            "rejected_bytes": self.rejected_bytes,
            "rejected_bytes_stored": self.rejected_bytes_stored,
            "rejected": dict(self.rejected),
            "seq_gaps_opened": tracker.gaps_opened,
            "seq_gaps_checked": tracker.gaps_checked,
        }


@dataclass(frozen=True, slots=True)
class DecodedBatch:
    """One MQTT batch, decoded: what goes on, what is refused (with its payload)."""

    raw: Sequence[RawMessage]
    bound: list[BoundMessage]
    rejected: list[RejectedRecord]


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What to acknowledge: every message of the batch, and per device its contiguous seq."""

    device_acks: dict[str, int]
    rejected_seqs: dict[str, list[tuple[int, str]]]
    accepted_readings: int


@dataclass(frozen=True, slots=True)
class _Failed:
    bound: BoundMessage
    record: RejectedRecord


class IngestService:
    def __init__(
        self,
        handoff: ReadingHandoff,
        rejections: RejectionStore,
        alarms: TechnicalAlarms,
        *,
        limits: Limits = DEFAULT_LIMITS,
        bindings: BindingIndex | None = None,
        monitor: BadDataMonitor | None = None,
        retriable: tuple[type[BaseException], ...] = (),
        handled: HandledSeqs | None = None,
    ) -> None:
        self._handoff = handoff
        self._rejections = rejections
        self._alarms = alarms
        self._limits = limits
        self._retriable = retriable
        self._handled = handled
        self.bindings = bindings or BindingIndex()
        self._monitor = monitor or BadDataMonitor()
        self.tracker = SeqTracker()
        self.stats = IngestStats()

    async def handle(self, batch: Sequence[RawMessage]) -> BatchResult:
        """Decode, bind and hand on one batch; return once all of it is durable."""
        return await self.store([self.decode(batch)])

    def decode(self, batch: Sequence[RawMessage]) -> DecodedBatch:
        """Decode and bind one batch (pure CPU; nothing is stored or acknowledged yet)."""
        decoded = DecodedBatch(batch, [], [])
        for raw in batch:
            self._decode_one(raw, decoded.bound, decoded.rejected)
        return decoded

    async def store(self, batches: Sequence[DecodedBatch]) -> BatchResult:
        """Hand on decoded batches as one, in their order; return once all of it is durable.
        Callers store batches in the order they arrived: the sequence tracker (device acks,
        gaps) and the stream downstream see readings in that order."""
        bound = [b for d in batches for b in d.bound]
        rejected = [r for d in batches for r in d.rejected]
        if rejected:
            failed, _ = await asyncio.gather(
                self._hand_off(bound), self._rejections.store(rejected)
            )
        else:
            failed = await self._hand_off(bound)
        if failed:
            refused = {id(f.bound) for f in failed}
            bound = [b for b in bound if id(b) not in refused]
            records = [f.record for f in failed]
            await self._rejections.store(records)
            rejected.extend(records)
        await self._watch_bad_devices(rejected)
        result = self._acknowledge(bound, rejected)
        latest = max((r.received_at for d in batches for r in d.raw), default=None)
        return await self._check_gaps(result, latest)

    async def _check_gaps(self, result: BatchResult, at: datetime | None) -> BatchResult:
        """Devices with more seqs pending above a gap than the tracker keeps: ask the database
        how far they are contiguous (it may hold what this process never saw), and acknowledge
        that far; never past a seq the database does not hold."""
        marks = self.tracker.checks()
        if not marks or self._handled is None:
            return result
        try:
            through = await self._handled.handled_through(marks)
        except self._retriable as exc:
            log.warning("gap check postponed (%s)", describe(exc))
            self.tracker.to_check.update(marks)
            return result
        acks = dict(result.device_acks)
        for device, seq in through.items():
            self.tracker.advance_to(device, seq)
        for device in marks:
            acked = self.tracker.acked(device)
            if acked is not None:
                acks[device] = acked
            if at is not None and self.tracker.missing(device):  # the database lacks a seq
                detail = f"acks wait at seq {acked}: the database does not hold the next seq"
                detail += " (the device must resend what is not acknowledged)"
                await self._alarms.raise_alarm(TechnicalAlert("device_seq_gap", device, detail, at))
        return BatchResult(acks, result.rejected_seqs, result.accepted_readings)

    async def _hand_off(self, bound: Sequence[BoundMessage]) -> list[_Failed]:
        """Hand on; a message the hand-off refuses with an error that is not retriable (one
        poison message) is isolated and returned as a quarantine record, the rest handed on."""

        async def hand_off(part: Sequence[BoundMessage]) -> int:
            await self._handoff.hand_off(part)
            return len(part)

        _, failed = await isolating(hand_off, bound, retriable=self._retriable)
        if failed:
            self.stats.quarantined += len(failed)
            log.error("quarantined %d messages the hand-off refused (%s)", len(failed),
                      ", ".join(sorted({describe(exc) for _, exc in failed})))  # fmt: skip
        return [_Failed(b, quarantined(b, exc)) for b, exc in failed]

    def _decode_one(
        self, raw: RawMessage, bound: list[BoundMessage], rejected: list[RejectedRecord]
    ) -> None:
        decoded = decode(raw.topic, raw.payload, raw.received_at, self._limits)
        self.stats.messages += 1
        refusals = list(decoded.rejections)
        binding_at = self.bindings.binding_at
        for message in decoded.messages:
            binding = binding_at(message.device_id, message.measured_at)
            if binding is None:
                detail = "device is not bound to a patient at measurement time; kept in quarantine"
                unbound = Rejection(
                    RejectReason.UNBOUND_DEVICE, detail, message.device_id, message.seq
                )
                refusals.append(unbound)
            else:
                bound.append(
                    BoundMessage(
                        binding.patient_id, message, binding.device_kind, binding.cadence_s
                    )
                )
        if refusals:
            rejected.extend(RejectedRecord.all_of(raw, refusals))

    async def _watch_bad_devices(self, rejected: Sequence[RejectedRecord]) -> None:
        if not rejected:
            return
        reasons = Counter(record.rejection.reason.value for record in rejected)
        self.stats.rejected.update(reasons)
        self.stats.rejected_bytes += sum(r.payload_bytes for r in rejected if r.first)
        self.stats.rejected_bytes_stored += sum(len(r.payload) for r in rejected)
        devices = sorted({str(record.rejection.device_id) for record in rejected})
        # Reasons and pseudonyms only: ids, values and payloads stay in the database.
        log.warning(
            "rejected %d: %s (%d devices: %s)",
            len(rejected),
            ", ".join(f"{k}={v}" for k, v in sorted(reasons.items())),
            len(devices),
            refs(devices),
        )
        for record in rejected:
            r = record.rejection
            device = r.device_id
            if device is None or r.reason is RejectReason.UNBOUND_DEVICE:
                continue
            if self._monitor.rejected(device, record.received_at):
                await self._alarms.raise_alarm(
                    TechnicalAlert(
                        "device_bad_data",
                        device,
                        f"{self._monitor.threshold} rejected payloads within "
                        f"{self._monitor.window_s:.0f} s (latest: {r.reason})",
                        record.received_at,
                    )
                )

    async def raise_alarm(self, alert: TechnicalAlert) -> None:
        await self._alarms.raise_alarm(alert)

    def housekeeping(self, now: datetime) -> None:
        """Bound memory: forget devices with no recent rejection."""
        self._monitor.forget_before(now - timedelta(seconds=self._monitor.window_s))

    def _acknowledge(
        self, bound: Sequence[BoundMessage], rejected: Sequence[RejectedRecord]
    ) -> BatchResult:
        handled = self.tracker.handled
        touched: set[str] = set()
        accepted = 0
        for b in bound:
            handled(b.message.device_id, b.message.seq)
            touched.add(b.message.device_id)
            accepted += len(b.message.measurements)
        rejected_seqs: dict[str, list[tuple[int, str]]] = {}
        for record in rejected:
            r = record.rejection
            if r.device_id is not None and r.seq is not None:
                handled(r.device_id, r.seq)
                touched.add(r.device_id)
                rejected_seqs.setdefault(r.device_id, []).append((r.seq, r.reason.value))
        self.stats.readings_accepted += accepted
        acks = {d: seq for d in touched if (seq := self.tracker.acked(d)) is not None}
        return BatchResult(acks, rejected_seqs, accepted)
