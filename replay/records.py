"""The replay's input: recorded readings (JSONL), which device belongs to which patient, and the
device messages the stream operator takes.

One JSON object per line: `device_id`, `ts` (ISO 8601 with a time zone, or epoch seconds),
`metric` (a contract metric: glucose, spo2, heart_rate, ...), `value`, `unit` (an accepted
spelling: mg/dL or mmol/L for glucose, % for SpO2, ...) and optionally `true_value` (same unit;
used only to simulate a patient's meter re-check). Values are converted to the canonical unit as
the ingest does. Readings of one device at one instant form one message; each device's messages
are numbered in time order.

Devices: one patient per device (the patient id is the device id) and the device's kind and
cadence from its metric (glucose: a CGM every 5 min), unless a mapping file says otherwise:
`{"device_id": {"patient_id": "...", "kind": "cgm", "cadence_s": 300}, ...}`.

Errors: `ReplayInputError` (a line that cannot be read: its number and why, never its content).
Must not: run detectors (replay.engine does) or write anything.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from ingest.bound import BoundMessage
from ingest.contract import METRICS, DeviceMessage, Measurement


class ReplayInputError(ValueError):
    """A replay input that cannot be read (fatal for the replay)."""


@dataclass(frozen=True, slots=True)
class Reading:
    device_id: str
    at: float  # epoch seconds, measurement time
    metric: str
    value: float  # canonical unit
    true_value: float | None = None  # canonical unit


@dataclass(frozen=True, slots=True)
class Device:
    patient_id: str
    kind: str
    cadence_s: float | None


# metric -> (device kind, cadence) when no mapping says otherwise
DEFAULT_DEVICES: Mapping[str, tuple[str, float | None]] = MappingProxyType(
    {"glucose": ("cgm", 300.0), "spo2": ("wearable", 60.0), "heart_rate": ("wearable", 60.0),
     "respiratory_rate": ("wearable", 60.0), "systolic_bp": ("bp_cuff", 43_200.0),
     "diastolic_bp": ("bp_cuff", 43_200.0), "weight": ("scale", 86_400.0)}
)  # fmt: skip


def _time(ts: Any) -> float:
    if isinstance(ts, int | float) and not isinstance(ts, bool):
        return float(ts)
    t = datetime.fromisoformat(str(ts).replace("Z", "+00:00"))
    if t.tzinfo is None:
        raise ValueError("ts needs a time zone")
    return t.timestamp()


def _canonical(metric: str, unit: str, value: Any) -> float:
    spec = METRICS.get(metric)
    if spec is None:
        raise ValueError(f"unknown metric {metric!r}")
    convert = spec.units.get(unit)
    if convert is None:
        raise ValueError(f"unit {unit!r} not accepted for {metric}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError("value is not finite")
    return convert(v)


def parse_line(doc: Mapping[str, Any]) -> Reading:
    metric, unit = str(doc["metric"]), str(doc["unit"])
    true = doc.get("true_value")
    return Reading(
        str(doc["device_id"]),
        _time(doc["ts"]),
        metric,
        _canonical(metric, unit, doc["value"]),
        None if true is None else _canonical(metric, unit, true),
    )


def read_jsonl(lines: Iterable[str]) -> list[Reading]:
    """The readings of a JSONL text, in time order (ties: device, then file order)."""
    out: list[tuple[float, str, int, Reading]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            r = parse_line(json.loads(line))
        except (ValueError, KeyError, TypeError) as exc:
            raise ReplayInputError(f"line {number}: {type(exc).__name__}: {_why(exc)}") from exc
        out.append((r.at, r.device_id, number, r))
    return [r for *_, r in sorted(out, key=lambda x: x[:3])]


def _why(exc: Exception) -> str:
    # The reason only, never the line's content (it is patient data): a missing key names the
    # field; a bad value says which check failed.
    return f"missing field {exc}" if isinstance(exc, KeyError) else str(exc).split(":")[0][:80]


def read_devices(doc: Mapping[str, Any]) -> dict[str, Device]:
    """A mapping file's devices: device_id -> patient, kind, cadence."""
    try:
        return {
            str(device): Device(str(d["patient_id"]), str(d["kind"]),
                                None if d.get("cadence_s") is None else float(d["cadence_s"]))
            for device, d in doc.items()
        }  # fmt: skip
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ReplayInputError(f"device mapping: {type(exc).__name__}: {_why(exc)}") from exc


def device_of(r: Reading, devices: Mapping[str, Device]) -> Device:
    known = devices.get(r.device_id)
    if known is not None:
        return known
    kind, cadence = DEFAULT_DEVICES.get(r.metric, ("", None))
    return Device(r.device_id, kind, cadence)


def messages(
    readings: Iterable[Reading], devices: Mapping[str, Device]
) -> list[tuple[float, BoundMessage]]:
    """(measurement time, message) per device and instant, in time order, numbered per device."""
    grouped: dict[tuple[float, str], list[Reading]] = {}
    for r in readings:
        grouped.setdefault((r.at, r.device_id), []).append(r)
    seqs: dict[str, int] = {}
    out = []
    for (at, device_id), group in sorted(grouped.items()):
        seq = seqs[device_id] = seqs.get(device_id, -1) + 1
        out.append((at, bound(group, device_of(group[0], devices), seq)))
    return out


def bound(group: list[Reading], device: Device, seq: int) -> BoundMessage:
    at = datetime.fromtimestamp(0, UTC) + timedelta(seconds=group[0].at)
    ms = tuple(
        Measurement(r.metric, r.value, METRICS[r.metric].canonical_unit, r.value,
                    METRICS[r.metric].canonical_unit)
        for r in group
    )  # fmt: skip
    dm = DeviceMessage(group[0].device_id, seq, at, at, ms)
    return BoundMessage(device.patient_id, dm, device.kind, device.cadence_s)
