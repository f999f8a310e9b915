"""SenML packs (RFC 8428) through the device contract."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from ingest.contract import RejectReason, decode

NOW = datetime(2026, 11, 23, 0, 5, tzinfo=UTC)
TOPIC = "vigil/v1/devices/cgm-0042/readings"
T0 = NOW.timestamp() - 600


def pack(*records: dict[str, object]) -> bytes:
    return orjson.dumps(list(records))


def test_base_fields_resolve_and_group_by_seq() -> None:
    data = pack(
        {
            "bn": "urn:dev:id:cgm-0042:",
            "bt": T0,
            "bu": "mmol/L",
            "seq": 7,
            "n": "glucose",
            "v": 5.5,
        },
        {"n": "glucose", "t": 300, "v": 4.1, "seq": 8},
        {"n": "glucose", "t": 600, "v": 3.2, "seq": 9},
    )
    result = decode(TOPIC, data, NOW)
    assert result.rejections == ()
    assert [m.seq for m in result.messages] == [7, 8, 9]
    assert [round(m.measurements[0].value, 1) for m in result.messages] == [99.1, 73.9, 57.7]
    assert result.messages[2].measured_at == datetime.fromtimestamp(T0 + 600, UTC)
    assert result.messages[0].measurements[0].orig_unit == "mmol/L"


def test_records_of_one_seq_are_one_message() -> None:
    data = pack(
        {"bn": "cgm-0042:", "bt": T0, "seq": 1, "n": "heart_rate", "u": "beat/min", "v": 64},
        {"n": "spo2", "u": "%", "v": 97},
    )
    (message,) = decode(TOPIC, data, NOW).messages
    assert sorted(m.metric for m in message.measurements) == ["heart_rate", "spo2"]


def test_relative_times_are_relative_to_receipt() -> None:
    (message,) = decode(
        TOPIC,
        pack({"bn": "cgm-0042:", "seq": 1, "n": "glucose", "u": "mg/dL", "v": 90, "t": -60}),
        NOW,
    ).messages
    assert message.measured_at == datetime.fromtimestamp(NOW.timestamp() - 60, UTC)


@pytest.mark.parametrize(
    ("records", "reason"),
    [
        ([{"bn": "cgm-0042:", "bt": T0, "n": "glucose", "u": "mg/dL", "v": 90}], RejectReason.SCHEMA),
        ([{"bn": "cgm-0099:", "bt": T0, "seq": 1, "n": "glucose", "u": "mg/dL", "v": 90}], RejectReason.DEVICE_MISMATCH),
        ([{"bn": "cgm-0042:", "bt": T0, "seq": 1, "n": "glucose", "u": "mg/dL", "vs": "high"}], RejectReason.SCHEMA),
        ([{"bn": "cgm-0042:", "bt": T0, "seq": 1, "n": "glucose", "u": "mg/dL", "v": "90"}], RejectReason.NOT_FINITE),
        ([{"bn": "cgm-0042:", "bt": "now", "seq": 1, "n": "glucose", "v": 1}], RejectReason.SCHEMA),
        ([{"bn": "cgm-0042:", "bt": T0 + 3600, "seq": 1, "n": "glucose", "u": "mg/dL", "v": 90}], RejectReason.CLOCK_SKEW),
        ([{"bn": "cgm-0042:", "bt": T0, "seq": 1, "n": "glucose", "v": 90}], RejectReason.MISSING_UNIT),
        ([{"bn": "cgm-0042:", "bt": 1e300, "seq": 1, "n": "glucose", "u": "mg/dL", "v": 90}], RejectReason.BAD_TIMESTAMP),
        ([{"bn": "cgm-0042:", "bt": T0, "seq": 1, "n": "glucose", "u": "mg/dL", "v": 90},
          {"t": 60, "n": "spo2", "u": "%", "v": 97}], RejectReason.SCHEMA),  # one seq, two times
    ],
)  # fmt: skip
def test_bad_senml_records_get_a_reason(
    records: list[dict[str, object]], reason: RejectReason
) -> None:
    result = decode(TOPIC, pack(*records), NOW)
    assert reason in [r.reason for r in result.rejections]
