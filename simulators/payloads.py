"""Device-side encoding of the contract: what a well-behaved device publishes.

Values are rounded the way devices display them, and converted into the unit the device reports
in (the inverse of the ingest's normalisation, from the same table).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from ingest.contract import METRICS

_DECIMALS = {
    "mmol/L": 1,
    "kg": 1,
    "[lb_av]": 1,
    "Cel": 1,
    "%": 0,
    "mm[Hg]": 0,
    "/min": 0,
    "mg/dL": 0,
}


def to_device_unit(metric: str, canonical_value: float, unit: str) -> float:
    affine = METRICS[metric].units[unit]
    value = (canonical_value - affine.offset) / affine.scale
    return round(value, _DECIMALS.get(unit, 1))


def reading(metric: str, canonical_value: float, unit: str) -> dict[str, Any]:
    value = to_device_unit(metric, canonical_value, unit)
    return {"metric": metric, "value": int(value) if value.is_integer() else value, "unit": unit}


def message(
    device_id: str, seq: int, at: datetime, readings: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "v": 1,
        "device_id": device_id,
        "seq": seq,
        "ts": at.isoformat(),
        "readings": list(readings),
    }


def encode(doc: dict[str, Any] | list[dict[str, Any]]) -> bytes:
    return orjson.dumps(doc)
