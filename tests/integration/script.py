"""A scripted clinical scenario for whole-system runs: the same bytes, sent the same way, to
whichever runner a test starts, so that their detections can be compared row for row.

Six enrolled patients (the simulator cohort with the test's tag): a CGM falling into level-2
hypoglycaemia, heart-failure weight gain, a confirmed hypertensive crisis, a meter hypo, a
noisy BP spike, NEWS2 deterioration on a wearable and a cuff, and persistent SpO2 93-94 %.
Every time lies in the past hour (three days for the scale), so nothing is too old or ahead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from simulators import payloads
from simulators.fleet import SimDevice, SimPatient
from tests.integration.devices import connect
from vigil.settings import Settings


@dataclass(frozen=True, slots=True)
class Sent:
    device_id: str
    seq: int
    at: datetime
    payload: bytes
    readings: int


def _device(patient: SimPatient, kind: str) -> SimDevice:
    return next(d for d in patient.devices if d.profile.kind == kind)


def _message(d: SimDevice, seq: int, at: datetime, values: dict[str, float]) -> Sent:
    units = dict(zip(d.profile.metrics, d.units, strict=True))
    readings = [payloads.reading(m, v, units[m]) for m, v in values.items()]
    doc: dict[str, Any] = payloads.message(d.device_id, seq, at, readings)
    return Sent(d.device_id, seq, at, orjson.dumps(doc), len(readings))


def scenario(patients: list[SimPatient], end: datetime) -> list[list[Sent]]:
    """Per device, its messages in order. `end` is the latest measurement time."""
    p0, p1, p2, p3, p4, p5 = patients[:6]
    cgm, scale = _device(p0, "cgm"), _device(p0, "scale")
    cgm_values = [150, 146, 141, 135, 128, 120, 111, 102, 93, 84, 75, 67, 60, 54, 51, 50]
    cgm_start = end - timedelta(minutes=5 * (len(cgm_values) - 1))
    out = [
        [_message(cgm, i, cgm_start + timedelta(minutes=5 * i), {"glucose": v}) for i, v in enumerate(cgm_values)],
        [_message(scale, i, end - timedelta(days=2.9) + timedelta(days=0.95 * i), {"weight": w})
         for i, w in enumerate([80.0, 80.6, 81.4, 82.1])],
        [_message(_device(p1, "bp_cuff"), 0, end - timedelta(minutes=9), {"systolic_bp": 196, "diastolic_bp": 124, "heart_rate": 88}),
         _message(_device(p1, "bp_cuff"), 1, end - timedelta(minutes=4), {"systolic_bp": 192, "diastolic_bp": 118, "heart_rate": 86})],
        [_message(_device(p1, "glucometer"), 0, end - timedelta(minutes=20), {"glucose": 52})],
        [_message(_device(p2, "bp_cuff"), 0, end - timedelta(minutes=30), {"systolic_bp": 186, "diastolic_bp": 92, "heart_rate": 70}),
         _message(_device(p2, "bp_cuff"), 1, end - timedelta(minutes=25), {"systolic_bp": 148, "diastolic_bp": 88, "heart_rate": 69})],
        [_message(_device(p3, "wearable"), i, end - timedelta(minutes=6 - i), {"heart_rate": 135, "spo2": 91}) for i in range(5)],
        [_message(_device(p3, "bp_cuff"), 0, end - timedelta(minutes=4.5), {"systolic_bp": 95, "diastolic_bp": 60, "heart_rate": 134})],
        # 93-94 % for 10 of 15 minutes (spo2.review), one reading a minute
        [_message(_device(p4, "wearable"), i, end - timedelta(minutes=12 - i), {"heart_rate": 80, "spo2": v})
         for i, v in enumerate([95, 94, 94, 93, 94, 94, 93, 94, 94, 94, 93, 94])],
        [_message(_device(p5, "wearable"), i, end - timedelta(minutes=8 - i), {"heart_rate": 70, "spo2": 97}) for i in range(3)],
    ]  # fmt: skip
    return out


async def send(settings: Settings, per_device: list[list[Sent]], *, upto: int | None = None,
               start: int = 0) -> int:  # fmt: skip
    """Publish messages [start:upto] of every device, all devices interleaved in measurement
    time order (as devices measuring side by side would); return the readings sent."""
    chunk = sorted((m for messages in per_device for m in messages[start:upto]), key=lambda m: m.at)
    devices = {d: await connect(settings, d) for d in dict.fromkeys(m.device_id for m in chunk)}
    for m in chunk:
        reason = await devices[m.device_id].publish_raw(
            f"vigil/v1/devices/{m.device_id}/readings", m.payload
        )
        assert not reason.is_failure, reason
    for device in devices.values():
        device.disconnect()
    return sum(m.readings for m in chunk)


def now_minus(minutes: float) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=minutes)
