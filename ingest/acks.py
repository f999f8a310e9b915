"""End-to-end acknowledgements to devices, coalesced (DESIGN 3).

After a batch is durable, each device that sent something learns the highest contiguous seq it
may drop from its buffer, on `vigil/v1/devices/{id}/ack` (QoS 1, retained, so a reconnecting
device sees its latest ack at once). To keep this from doubling MQTT traffic for chatty devices,
a device gets at most one ack per `min_interval_s`; the newest value wins and is flushed when the
interval has passed. Pure: the caller passes monotonic `now` and publishes what `due` returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import orjson

MAX_REJECTED_LISTED = 20


@dataclass(slots=True)
class _Pending:
    seq: int
    rejected: list[tuple[int, str]]


@dataclass(slots=True)
class AckCoalescer:
    min_interval_s: float = 1.0
    _pending: dict[str, _Pending] = field(default_factory=dict)
    _last_sent: dict[str, float] = field(default_factory=dict)

    def record(self, acks: dict[str, int], rejected: dict[str, list[tuple[int, str]]]) -> None:
        for device_id, seq in acks.items():
            p = self._pending.get(device_id)
            if p is None:
                self._pending[device_id] = _Pending(seq, list(rejected.get(device_id, ())))
            else:
                p.seq = max(p.seq, seq)
                p.rejected.extend(rejected.get(device_id, ()))

    def due(self, now: float) -> list[tuple[str, int, list[tuple[int, str]]]]:
        """Acks to publish now: (device_id, seq, recently rejected (seq, reason))."""
        out = []
        for device_id, p in list(self._pending.items()):
            if now - self._last_sent.get(device_id, -1e18) >= self.min_interval_s:
                out.append((device_id, p.seq, p.rejected[-MAX_REJECTED_LISTED:]))
                self._last_sent[device_id] = now
                del self._pending[device_id]
        return out

    def forget_before(self, cutoff: float) -> None:
        """Bound memory: forget send times older than `cutoff` (they no longer throttle)."""
        for device_id in [
            d for d, t in self._last_sent.items() if t < cutoff - self.min_interval_s
        ]:
            del self._last_sent[device_id]


def ack_payload(device_id: str, seq: int, rejected: list[tuple[int, str]], at: datetime) -> bytes:
    return orjson.dumps(
        {
            "v": 1,
            "device_id": device_id,
            "acked_seq": seq,
            "rejected": [{"seq": s, "reason": r} for s, r in rejected],
            "at": at.isoformat(),
        }
    )
