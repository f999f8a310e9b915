"""Resolve a SenML pack (RFC 8428, JSON) into per-seq groups of (metric, value, unit).

Base fields carry forward as the RFC says (bn, bt, bu, bv). Names resolve to
`<anything ending in the device id>:<metric>`, e.g. `urn:dev:id:bp-0007:` + `systolic_bp`.
SenML has no sequence number, so Vigil adds one extension field, `seq`, which like a base field
applies to its record and the ones after it until another `seq` appears. Records sharing a seq are
one measurement and must share a time. Times below 2**28 are relative to the receive time (RFC
8428 section 4.5.3). Anything unresolvable is reported through `reject`, never raised.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ingest.contract.records import RejectReason

_RELATIVE_TIME_LIMIT = 2**28
_MAX_SEQ = 2**63 - 1
Reject = Callable[..., None]


@dataclass(slots=True)
class Group:
    seq: int
    measured_at: datetime
    sent_time: float | str  # epoch seconds, or "r<seconds>" if relative: for the fingerprint
    readings: list[tuple[str, Any, Any]] = field(default_factory=list)


@dataclass(slots=True)
class _Base:
    name: str = ""
    time: float = 0.0
    unit: Any = None
    value: float = 0.0
    seq: int | None = None


def _number(x: Any) -> bool:
    return (type(x) is int or type(x) is float) and math.isfinite(x)


def _update_base(base: _Base, record: dict[str, Any]) -> str | None:
    """Apply a record's base fields; return an error text if one is malformed."""
    if "bn" in record:
        if not isinstance(record["bn"], str):
            return "bn must be a string"
        base.name = record["bn"]
    for key, attr in (("bt", "time"), ("bv", "value")):
        if key in record:
            if not _number(record[key]):
                return f"{key} must be a finite number"
            setattr(base, attr, float(record[key]))
    if "bu" in record:
        base.unit = record["bu"]
    if "seq" in record:
        seq = record["seq"]
        if type(seq) is not int or not 0 <= seq <= _MAX_SEQ:
            return "seq must be a non-negative 64-bit integer"
        base.seq = seq
    return None


def _metric(name: str, device_id: str) -> str | None:
    prefix, sep, metric = name.rpartition(":")
    if not sep or not (prefix == device_id or prefix.endswith(":" + device_id)):
        return None
    return metric


def resolve(
    records: list[Any], received_at: datetime, device_id: str, reject: Reject
) -> Iterator[Group]:
    base = _Base()
    groups: dict[int, Group] = {}
    for record in records:
        if not isinstance(record, dict):
            reject(RejectReason.SCHEMA, "SenML record is not an object")
            continue
        error = _update_base(base, record)
        if error is not None:
            reject(RejectReason.SCHEMA, error, base.seq)
            continue
        if "v" not in record:
            if "n" in record or "vs" in record or "vb" in record or "vd" in record or "s" in record:
                reject(RejectReason.SCHEMA, "only numeric SenML values (v) are accepted", base.seq)
            continue  # a record of base fields only
        _add(groups, base, record, received_at, device_id, reject)
    yield from groups.values()


def _add(
    groups: dict[int, Group],
    base: _Base,
    record: dict[str, Any],
    received_at: datetime,
    device_id: str,
    reject: Reject,
) -> None:
    seq = base.seq
    name = record.get("n", "")
    metric = _metric(base.name + name, device_id) if isinstance(name, str) else None
    t = record.get("t", 0.0)
    if seq is None:
        reject(RejectReason.SCHEMA, "SenML records need the seq extension field")
    elif metric is None:
        reject(RejectReason.DEVICE_MISMATCH, "SenML name does not end in this device's id", seq)
    elif not _number(t):
        reject(RejectReason.BAD_TIMESTAMP, "t must be a finite number", seq, metric)
    elif not _number(record["v"]):
        reject(RejectReason.NOT_FINITE, "v must be a finite number", seq, metric)
    else:
        seconds = base.time + float(t)
        measured_at = _time(seconds, received_at)
        if measured_at is None:
            reject(RejectReason.BAD_TIMESTAMP, "time out of range", seq, metric)
            return
        relative = abs(seconds) < _RELATIVE_TIME_LIMIT
        sent: float | str = f"r{seconds!r}" if relative else measured_at.timestamp()
        group = groups.setdefault(seq, Group(seq, measured_at, sent))
        if group.measured_at != measured_at:
            reject(RejectReason.SCHEMA, "records of one seq must share a time", seq, metric)
            return
        group.readings.append((metric, base.value + float(record["v"]), record.get("u", base.unit)))


def _time(seconds: float, received_at: datetime) -> datetime | None:
    if abs(seconds) < _RELATIVE_TIME_LIMIT:
        seconds += received_at.timestamp()
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None
