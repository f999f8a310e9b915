"""Per-device sequence tracking: the highest contiguous seq handled, and gaps.

A device numbers its messages (`seq`) and keeps them buffered until the ingest acknowledges them
on its ack topic with the highest *contiguous* seq handled (stored, or refused with a reason).
This tracker computes that number and counts gaps. It never decides what is stored: duplicates
and old seqs still go to the database, which is the authority on idempotency and on what is
stored.

Two rules keep an ack truthful (issue 14, finding 6):

- After a restart the tracker is seeded from the database's truth: the ack each device was last
  sent (retained on the broker) is where it starts, and the seqs the database holds beyond it
  (stored or refused) advance it (`advance_to`). Seeding from the retained ack alone left acks
  frozen after a crash: it lags the database, and the seqs in between were never resent.
- It never acknowledges past a seq it has not seen handled. Memory is bounded: at most
  `max_pending` seqs above a gap are remembered per device; when more arrive, the highest are
  forgotten (harmless: the database has them, and a device resends what is not acknowledged)
  and the device is put on `to_check`, for the caller to ask the database how far it is
  contiguous (`advance_to`). Giving up a gap in memory never confirms a reading that is not
  stored: a seq that never arrives holds the device's ack until it does.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class _Device:
    contiguous: int
    highest: int
    pending: set[int] = field(default_factory=set)
    forgot: bool = False  # seqs above the gap were forgotten: check the database once caught up


@dataclass(slots=True)
class SeqTracker:
    max_pending: int = 1_000
    gaps_opened: int = 0
    gaps_checked: int = 0  # overflowing gaps resolved against the database (or still missing)
    to_check: set[str] = field(default_factory=set)  # devices over max_pending: ask the database
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
            if d.forgot and not d.pending:  # caught up with what it remembers
                d.forgot = False
                self.to_check.add(device_id)
            return
        d.pending.add(seq)
        if len(d.pending) > self.max_pending:
            d.pending.remove(max(d.pending))  # forget the newest: resent, or in the database
            d.forgot = True
            self.to_check.add(device_id)

    def advance_to(self, device_id: str, through: int) -> None:
        """The database holds every seq of this device up to `through` (from its current
        contiguous mark on): acknowledge through it."""
        d = self._devices.get(device_id)
        if d is None:
            self._devices[device_id] = _Device(through, through)
            return
        if through > d.contiguous:
            d.contiguous = through
            d.highest = max(d.highest, through)
            d.pending = {s for s in d.pending if s > through}
            self._advance(d)

    def checks(self) -> dict[str, int]:
        """Devices to check against the database, with the contiguous mark to check from."""
        marks = {device: self._devices[device].contiguous for device in self.to_check}
        self.gaps_checked += len(marks)
        self.to_check.clear()
        return marks

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
