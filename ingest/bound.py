"""A device message attributed to a patient, and its wire format on the bus.

`BoundMessage` is what ingest hands on: the validated `DeviceMessage` plus the patient the
device was bound to at measurement time, and the device's kind and expected cadence from the
registry (the stream layer needs them for CGM-only rules and silence). The bus format is
compact JSON (orjson), one record per device message, keyed by patient id so that one patient's
readings stay in order on one partition. Times travel as integer microseconds since the epoch (UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import orjson

from ingest.contract import DeviceMessage, Measurement

WIRE_VERSION = 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


class BoundMessage(NamedTuple):
    patient_id: str
    message: DeviceMessage
    device_kind: str = ""  # from the device registry: cgm, bp_cuff, wearable, ...
    cadence_s: float | None = None  # the device's expected interval between readings


class WireFormatError(ValueError):
    """A bus record that this version cannot read (fatal for that record: it is not ours)."""


def _us(t: datetime) -> int:
    return (t - _EPOCH) // _US


def _time(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def encode(bound: BoundMessage) -> bytes:
    m = bound.message
    return orjson.dumps(
        {
            "w": WIRE_VERSION,
            "p": bound.patient_id,
            "d": m.device_id,
            "s": m.seq,
            "t": _us(m.measured_at),
            "r": _us(m.received_at),
            "m": [list(x) for x in m.measurements],
            "c": m.context,
            "k": bound.device_kind,
            "e": bound.cadence_s,
            "f": m.fingerprint.hex(),
        }
    )


def decode(data: bytes) -> BoundMessage:
    try:
        doc: dict[str, Any] = orjson.loads(data)
        if doc["w"] != WIRE_VERSION:
            raise WireFormatError(f"wire version {doc['w']!r}")
        message = DeviceMessage(
            doc["d"],
            doc["s"],
            _time(doc["t"]),
            _time(doc["r"]),
            tuple(Measurement(*x) for x in doc["m"]),
            doc["c"],
            bytes.fromhex(doc.get("f", "")),
        )
        return BoundMessage(doc["p"], message, doc.get("k", ""), doc.get("e"))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        # The class only: the underlying message can quote the record (patient data), and this
        # error's text is logged.
        raise WireFormatError(f"undecodable record ({type(exc).__name__})") from exc
