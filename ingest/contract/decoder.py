"""Decode, validate and normalise one MQTT payload into device messages or rejections.

This is the device contract v1 (DESIGN 3) as a pure, total function: `decode` never raises, it
returns a `Decoded` holding what was accepted and why anything else was refused. It takes the
receive time as an argument (the adapter stamps it once) and does no I/O.

Accepted shapes: one v1 object, an array of v1 objects (an offline backlog), or a SenML pack
(RFC 8428, see `_senml.py`). Validation is per reading where it can be: one implausible value in
a message does not cost the other readings of that message.

It runs once per MQTT message on the ingest hot path (budget: 5 us per reading), which explains
a few choices: times are compared in UTC (comparing datetimes with different offsets costs
microseconds), bounds are precomputed timedeltas, and units are looked up in a flattened table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import orjson

from ingest.contract import _context, _senml
from ingest.contract.records import (
    Decoded,
    DeviceMessage,
    Measurement,
    Rejection,
    RejectReason,
    fingerprint,
)
from ingest.contract.topics import device_of_readings_topic
from ingest.contract.units import UnitEntry, unit_table

R = RejectReason
MAX_SEQ = 2**63 - 1
_MAX_TS_CHARS = 40
_UNITS = unit_table()
_device_of = lru_cache(maxsize=65_536)(device_of_readings_topic)


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds a payload must respect. Settings override the defaults in the composition root."""

    max_payload_bytes: int = 65_536
    max_readings: int = 1_000
    max_future_skew_s: float = 300.0
    max_age_s: float = 7 * 86_400.0
    max_context_depth: int = 8
    max_context_keys: int = 100
    max_context_items: int = 100
    max_context_string_chars: int = 1_024
    max_context_chars: int = 4_096
    future_skew: timedelta = field(init=False, repr=False)
    max_age: timedelta = field(init=False, repr=False)
    context: _context.ContextBounds = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if min(self.max_payload_bytes, self.max_readings) <= 0:
            raise ValueError("limits must be positive")
        if self.max_future_skew_s < 0 or self.max_age_s <= 0:
            raise ValueError("clock bounds must be non-negative")
        # Derived once here: building a timedelta per payload costs a microsecond.
        object.__setattr__(self, "future_skew", timedelta(seconds=self.max_future_skew_s))
        object.__setattr__(self, "max_age", timedelta(seconds=self.max_age_s))
        bounds = _context.ContextBounds(
            self.max_context_depth, self.max_context_keys, self.max_context_items,
            self.max_context_string_chars, self.max_context_chars,
        )  # fmt: skip
        object.__setattr__(self, "context", bounds)


DEFAULT_LIMITS = Limits()


def decode(
    topic: str, payload: bytes, received_at: datetime, limits: Limits = DEFAULT_LIMITS
) -> Decoded:
    """Decode one payload received on `topic` at `received_at` (timezone-aware)."""
    device_id = _device_of(topic)
    if device_id is None:
        return _refuse(R.BAD_TOPIC, "not a vigil/v1/devices/{device_id}/readings topic")
    if len(payload) > limits.max_payload_bytes:
        detail = f"{len(payload)} bytes > {limits.max_payload_bytes}"
        return _refuse(R.OVERSIZED, detail, device_id)
    if b"\\u0000" in payload:  # a NUL escape: PostgreSQL text and jsonb refuse NUL characters
        return _refuse(R.MALFORMED, "NUL characters are not allowed", device_id)
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        return _refuse(R.MALFORMED, f"not UTF-8 JSON: {str(exc)[:120]}", device_id)
    ctx = _Context(device_id, received_at, limits)
    if type(doc) is dict:
        return ctx.v1_batch((doc,))
    if isinstance(doc, list) and doc and isinstance(doc[0], dict):
        if "device_id" in doc[0] or "readings" in doc[0]:
            return ctx.v1_batch(doc)
        return ctx.senml(doc)
    return _refuse(R.SCHEMA, "expected a v1 object, an array of them, or a SenML pack", device_id)


def _refuse(reason: RejectReason, detail: str, device_id: str | None = None) -> Decoded:
    return Decoded((), (Rejection(reason, detail, device_id),), 0)


def _outside(value: float, entry: UnitEntry) -> str:
    lo, hi = entry.plausible_min, entry.plausible_max
    return f"{value:.4g} {entry.canonical_unit} outside [{lo:g}, {hi:g}]"


class _Context:
    """Per-payload state: the topic's device, the receive time, its bounds and the rejections."""

    __slots__ = ("device_id", "earliest", "latest", "limits", "received_at", "rejections")

    def __init__(self, device_id: str, received_at: datetime, limits: Limits) -> None:
        self.device_id = device_id
        if received_at.tzinfo is not UTC:  # the adapter stamps UTC; convert only if it did not
            received_at = received_at.astimezone(UTC)
        self.received_at = received_at
        self.latest = self.received_at + limits.future_skew
        self.earliest = self.received_at - limits.max_age
        self.limits = limits
        self.rejections: list[Rejection] = []

    def reject(
        self, reason: RejectReason, detail: str, seq: int | None = None, metric: str | None = None
    ) -> None:
        self.rejections.append(Rejection(reason, detail, self.device_id, seq, metric))

    def v1_batch(self, items: list[Any] | tuple[Any, ...]) -> Decoded:
        total = 0
        for item in items:
            readings = item.get("readings") if type(item) is dict else None
            total += len(readings) if type(readings) is list else 0
        if total > self.limits.max_readings:
            self.reject(R.TOO_MANY_READINGS, f"{total} readings > {self.limits.max_readings}")
            return Decoded((), tuple(self.rejections), total)
        messages = []
        for item in items:
            message = self.v1_message(item)
            if message is not None:
                messages.append(message)
        return Decoded(tuple(messages), tuple(self.rejections), total)

    def v1_message(self, item: Any) -> DeviceMessage | None:
        if type(item) is not dict:
            self.reject(R.SCHEMA, "batch element is not an object")
            return None
        version = item.get("v")
        if version != 1 or type(version) is not int:
            self.reject(R.UNSUPPORTED_VERSION, f"v={str(version)[:20]!r}, expected 1")
            return None
        seq = item.get("seq")
        if type(seq) is not int or not 0 <= seq <= MAX_SEQ:
            self.reject(R.SCHEMA, "seq must be a non-negative 64-bit integer")
            return None
        if item.get("device_id") != self.device_id:
            self.reject(R.DEVICE_MISMATCH, "payload device_id differs from the topic", seq)
            return None
        readings = item.get("readings")
        context = item.get("context")
        if type(readings) is not list or not readings:
            self.reject(R.SCHEMA, "readings must be a non-empty array", seq)
            return None
        if context is not None and type(context) is not dict:
            self.reject(R.SCHEMA, "context must be an object", seq)
            return None
        measured_at = self.measurement_time(item.get("ts"), seq)
        if measured_at is None:
            return None
        measurements = self.measurements(readings, seq)
        if not measurements:
            return None
        if context:
            context = self.bounded(context, seq)
        return DeviceMessage(
            self.device_id, seq, measured_at, self.received_at, measurements, context,
            fingerprint(measured_at.timestamp(), measurements),
        )  # fmt: skip

    def bounded(self, context: dict[str, Any], seq: int) -> dict[str, Any] | None:
        """The context if it is within the contract's bounds; else None and a rejection (the
        readings are still stored: a context is an annex, not the measurement)."""
        problem = _context.problem(context, self.limits.context)
        if problem is None:
            return context
        self.reject(R.BAD_CONTEXT, f"context dropped: {problem}", seq)
        return None

    def measurement_time(self, ts: Any, seq: int) -> datetime | None:
        if type(ts) is not str or len(ts) > _MAX_TS_CHARS:
            self.reject(R.BAD_TIMESTAMP, "ts must be an ISO 8601 string with a UTC offset", seq)
            return None
        try:
            measured_at = datetime.fromisoformat(ts)
            if measured_at.tzinfo is None:
                self.reject(R.BAD_TIMESTAMP, "ts has no UTC offset", seq)
                return None
            measured_at = measured_at.astimezone(UTC)
        except (ValueError, OverflowError):
            self.reject(R.BAD_TIMESTAMP, "ts is not a valid ISO 8601 time", seq)
            return None
        return self.checked_time(measured_at, seq)

    def checked_time(self, measured_at: datetime, seq: int) -> datetime | None:
        """Keep measurement times within [received - max_age, received + future_skew]."""
        if measured_at > self.latest:
            ahead = (measured_at - self.received_at).total_seconds()
            self.reject(R.CLOCK_SKEW, f"measured {ahead:.0f} s after it was received", seq)
            return None
        if measured_at < self.earliest:
            behind = (self.received_at - measured_at).total_seconds()
            self.reject(R.TOO_OLD, f"measured {behind:.0f} s before it was received", seq)
            return None
        return measured_at

    def measurements(self, readings: list[Any], seq: int) -> tuple[Measurement, ...]:
        accepted: list[Measurement] = []
        for raw in readings:
            if type(raw) is not dict:
                self.reject(R.SCHEMA, "a reading must be an object", seq)
                continue
            m = self.measurement(raw.get("metric"), raw.get("value"), raw.get("unit"), seq)
            if m is not None:
                accepted.append(m)
        if len(accepted) > 1:  # rare checks across readings, kept off the one-reading path
            return self.consistent(accepted, seq)
        return tuple(accepted)

    def measurement(self, metric: Any, value: Any, unit: Any, seq: int) -> Measurement | None:
        units = _UNITS.get(metric) if type(metric) is str else None
        if units is None:
            self.reject(R.UNKNOWN_METRIC, f"metric {str(metric)[:40]!r} is not known", seq)
            return None
        entry = units.get(unit) if type(unit) is str else None
        if entry is None:
            if unit is None:
                self.reject(R.MISSING_UNIT, "every reading must carry its UCUM unit", seq, metric)
            else:
                detail = f"{str(unit)[:20]!r} is not a unit of {metric}"
                self.reject(R.UNKNOWN_UNIT, detail, seq, metric)
            return None
        if type(value) is not float and type(value) is not int:
            self.reject(R.NOT_FINITE, "value must be a number", seq, metric)
            return None
        canonical = value * entry.scale + entry.offset
        if not entry.plausible_min <= canonical <= entry.plausible_max:  # NaN fails this too
            self.reject(R.IMPLAUSIBLE, _outside(canonical, entry), seq, metric)
            return None
        return Measurement(metric, canonical, entry.canonical_unit, float(value), unit)

    def consistent(self, accepted: list[Measurement], seq: int) -> tuple[Measurement, ...]:
        """One value per metric under a seq; a systolic not above its diastolic is a bad pair."""
        by_metric: dict[str, Measurement] = {}
        for m in accepted:
            if m.metric in by_metric:
                self.reject(R.DUPLICATE_METRIC, "metric appears twice under one seq", seq, m.metric)
            else:
                by_metric[m.metric] = m
        sbp, dbp = by_metric.get("systolic_bp"), by_metric.get("diastolic_bp")
        if sbp is not None and dbp is not None and sbp.value <= dbp.value:
            for metric in ("systolic_bp", "diastolic_bp"):
                self.reject(R.IMPLAUSIBLE, "systolic is not above diastolic", seq, metric)
            del by_metric["systolic_bp"], by_metric["diastolic_bp"]
        return tuple(by_metric.values())

    def senml(self, records: list[Any]) -> Decoded:
        if len(records) > self.limits.max_readings:
            self.reject(R.TOO_MANY_READINGS, f"{len(records)} records > {self.limits.max_readings}")
            return Decoded((), tuple(self.rejections), len(records))
        messages = []
        for group in _senml.resolve(records, self.received_at, self.device_id, self.reject):
            measured_at = self.checked_time(group.measured_at, group.seq)
            if measured_at is None:
                continue
            readings = [{"metric": m, "value": v, "unit": u} for m, v, u in group.readings]
            measurements = self.measurements(readings, group.seq)
            if measurements:
                messages.append(
                    DeviceMessage(
                        self.device_id,
                        group.seq,
                        measured_at,
                        self.received_at,
                        measurements,
                        None,
                        fingerprint(group.sent_time, measurements),
                    )
                )
        return Decoded(tuple(messages), tuple(self.rejections), len(records))
