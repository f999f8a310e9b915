"""Spot devices that keep sending bad data (DESIGN 3): pure, with `now` passed in.

A device that sends `threshold` rejected payloads within `window_s` raises one technical alert;
it raises again only after a quiet window. Memory is bounded by the number of devices seen
recently times `threshold`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass(slots=True)
class BadDataMonitor:
    threshold: int = 20
    window_s: float = 600.0
    _recent: dict[str, deque[datetime]] = field(default_factory=dict)
    _alerted_at: dict[str, datetime] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.threshold < 1 or self.window_s <= 0:
            raise ValueError("threshold and window must be positive")

    def rejected(self, device_id: str, now: datetime) -> bool:
        """Record one rejected payload; True when this crosses the threshold (alert once)."""
        window = timedelta(seconds=self.window_s)
        times = self._recent.setdefault(device_id, deque(maxlen=self.threshold))
        times.append(now)
        if len(times) < self.threshold or now - times[0] > window:
            return False
        last = self._alerted_at.get(device_id)
        if last is not None and now - last <= window:
            return False
        self._alerted_at[device_id] = now
        return True

    def forget_before(self, cutoff: datetime) -> None:
        """Drop devices with no rejection since `cutoff` (call now and then to bound memory)."""
        stale = [d for d, times in self._recent.items() if times[-1] < cutoff]
        for device_id in stale:
            del self._recent[device_id]
            self._alerted_at.pop(device_id, None)
