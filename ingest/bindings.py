"""Which patient a device measured at a given time: an in-memory index of device bindings.

Pure and synchronous. The ingest adapter loads it from the database, replaces it when a binding
changes (a NOTIFY from the `device_bindings` trigger, or the periodic refresh) and asks it once per
device message. Patient identity never comes from the device.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Binding:
    device_id: str
    patient_id: str
    valid_from: datetime
    valid_to: datetime | None  # None: still bound
    device_kind: str = ""
    cadence_s: float | None = None

    def __post_init__(self) -> None:
        if self.valid_to is not None and self.valid_to <= self.valid_from:
            raise ValueError("a binding must end after it starts")

    def covers(self, t: datetime) -> bool:
        return self.valid_from <= t and (self.valid_to is None or t < self.valid_to)


class BindingIndex:
    """Bindings per device, sorted by start; lookups are a bisect."""

    __slots__ = ("_by_device", "_starts")

    def __init__(self, bindings: Iterable[Binding] = ()) -> None:
        by_device: dict[str, list[Binding]] = {}
        for b in bindings:
            by_device.setdefault(b.device_id, []).append(b)
        for items in by_device.values():
            items.sort(key=lambda b: b.valid_from)
        self._by_device = by_device
        self._starts = {d: [b.valid_from for b in items] for d, items in by_device.items()}

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_device.values())

    def patient_at(self, device_id: str, t: datetime) -> str | None:
        binding = self.binding_at(device_id, t)
        return None if binding is None else binding.patient_id

    def binding_at(self, device_id: str, t: datetime) -> Binding | None:
        items = self._by_device.get(device_id)
        if items is None:
            return None
        i = bisect_right(self._starts[device_id], t) - 1
        if i >= 0 and items[i].covers(t):
            return items[i]
        return None

    def replace_device(self, device_id: str, bindings: Iterable[Binding]) -> BindingIndex:
        """A new index with this device's bindings swapped (after a change notification)."""
        others = (b for d, items in self._by_device.items() if d != device_id for b in items)
        return BindingIndex([*others, *bindings])
