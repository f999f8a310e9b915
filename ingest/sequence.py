"""Per-device sequence tracking: the highest contiguous seq handled, and gaps.

A device numbers its messages (`seq`) and keeps them buffered until the ingest acknowledges them
on its ack topic with the highest *contiguous* seq handled (stored, or rejected with a reason).
This tracker computes that number and counts gaps. It never decides what is stored: duplicates
and old seqs still go to the database, which is the authority on idempotency.

After a restart the tracker is seeded from the acks the devices were last sent (retained on the
broker), so it never acknowledges past a seq it has not seen. Memory is bounded: at most
`max_pending` seqs above a gap are remembered per device. When more arrive, the oldest gap is
declared lost (counted in `gaps_abandoned`): by then a device still holding those readings has
re-sent them many times over (it re-sends unacknowledged readings every couple of minutes), so
one lost message cannot freeze a device's acknowledgements forever.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class _Device:
    contiguous: int
    highest: int
    pending: set[int] = field(default_factory=set)


@dataclass(slots=True)
class SeqTracker:
    max_pending: int = 1_000
    gaps_opened: int = 0
    gaps_abandoned: int = 0
    _devices: dict[str, _Device] = field(default_factory=dict)

    def seed(self, device_id: str, acked_seq: int) -> None:
        """Start from what the device was last told (its retained ack), not from the first seq
        seen after a restart: seqs between the two may still sit in the device's buffer."""
        if device_id not in self._devices:
            self._devices[device_id] = _Device(acked_seq, acked_seq)

    def handled(self, device_id: str, seq: int) -> None:
        """Record that (device_id, seq) is durably handled."""
        d = self._devices.get(device_id)
        if d is None:  # first contact since start: nothing older is owed to us
            self._devices[device_id] = _Device(seq, seq)
            return
        if seq <= d.contiguous or seq in d.pending:
            return
        if seq > d.highest + 1:
            self.gaps_opened += 1
        d.highest = max(d.highest, seq)
        if seq == d.contiguous + 1:
            d.contiguous = seq
            self._advance(d)
            return
        d.pending.add(seq)
        if len(d.pending) > self.max_pending:
            d.contiguous = min(d.pending) - 1
            self.gaps_abandoned += 1
            self._advance(d)

    def _advance(self, d: _Device) -> None:
        while d.contiguous + 1 in d.pending:
            d.contiguous += 1
            d.pending.remove(d.contiguous)

    def acked(self, device_id: str) -> int | None:
        """The highest seq such that it and all before it (since first contact) are handled."""
        d = self._devices.get(device_id)
        return None if d is None else d.contiguous

    def missing(self, device_id: str) -> int:
        """How many seqs are missing between the contiguous mark and the highest seen."""
        d = self._devices.get(device_id)
        return 0 if d is None else d.highest - d.contiguous - len(d.pending)
