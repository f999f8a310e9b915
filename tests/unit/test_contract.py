"""Device contract v1: decoding, validation and normalisation (DESIGN 3), no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest

from ingest.contract import Limits, RejectReason, decode
from ingest.contract.units import MG_DL_PER_MMOL_L

NOW = datetime(2026, 11, 23, 0, 5, tzinfo=UTC)
TOPIC = "vigil/v1/devices/bp-0007/readings"
R = RejectReason


def payload(**overrides: object) -> bytes:
    doc: dict[str, object] = {
        "v": 1,
        "device_id": "bp-0007",
        "seq": 4812,
        "ts": "2026-11-23T08:01:07+08:00",
        "readings": [
            {"metric": "systolic_bp", "value": 142, "unit": "mm[Hg]"},
            {"metric": "diastolic_bp", "value": 91, "unit": "mm[Hg]"},
            {"metric": "heart_rate", "value": 71, "unit": "/min"},
        ],
    }
    doc.update(overrides)
    return orjson.dumps(doc)


def one(metric: str, value: object, unit: object) -> bytes:
    return payload(readings=[{"metric": metric, "value": value, "unit": unit}])


DEFAULTS = Limits()


def reasons(data: bytes, topic: str = TOPIC, limits: Limits = DEFAULTS) -> list[RejectReason]:
    return [r.reason for r in decode(topic, data, NOW, limits).rejections]


def test_the_design_example_decodes_to_three_readings_in_utc() -> None:
    result = decode(TOPIC, payload(), NOW)
    assert result.rejections == ()
    (message,) = result.messages
    assert (message.device_id, message.seq) == ("bp-0007", 4812)
    assert message.measured_at == datetime(2026, 11, 23, 0, 1, 7, tzinfo=UTC)
    assert message.measured_at.tzinfo is UTC
    assert [(m.metric, m.value, m.unit) for m in message.measurements] == [
        ("systolic_bp", 142.0, "mm[Hg]"),
        ("diastolic_bp", 91.0, "mm[Hg]"),
        ("heart_rate", 71.0, "/min"),
    ]


@pytest.mark.parametrize(
    ("metric", "value", "unit", "canonical", "canonical_unit"),
    [
        ("glucose", 5.5, "mmol/L", 5.5 * MG_DL_PER_MMOL_L, "mg/dL"),
        ("glucose", 99, "mg/dL", 99.0, "mg/dL"),
        ("glucose", 3.0, "mmol/L", 54.048, "mg/dL"),  # the level-2 hypoglycaemia boundary
        ("weight", 176.4, "[lb_av]", 176.4 * 0.45359237, "kg"),
        ("weight", 80000, "g", 80.0, "kg"),
        ("body_temperature", 98.6, "[degF]", 37.0, "Cel"),
        ("systolic_bp", 24.0, "kPa", 24.0 * 7.500617, "mm[Hg]"),
        ("spo2", 0.95, "/", 95.0, "%"),
        ("heart_rate", 60, "{beats}/min", 60.0, "/min"),
    ],
)
def test_units_are_normalised_and_the_original_is_kept(
    metric: str, value: float, unit: str, canonical: float, canonical_unit: str
) -> None:
    (message,) = decode(TOPIC, one(metric, value, unit), NOW).messages
    (m,) = message.measurements
    assert m.value == pytest.approx(canonical)
    assert m.unit == canonical_unit
    assert (m.orig_value, m.orig_unit) == (float(value), unit)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"{not json", R.MALFORMED),
        (b"\xff\xfe", R.MALFORMED),
        (b"42", R.SCHEMA),
        (b"[]", R.SCHEMA),
        (payload(v=2), R.UNSUPPORTED_VERSION),
        (payload(v="1"), R.UNSUPPORTED_VERSION),
        (payload(seq=-1), R.SCHEMA),
        (payload(seq=True), R.SCHEMA),
        (payload(seq=2**63), R.SCHEMA),
        (payload(device_id="bp-0008"), R.DEVICE_MISMATCH),
        (payload(ts="2026-11-23T08:01:07"), R.BAD_TIMESTAMP),  # no offset
        (payload(ts="yesterday"), R.BAD_TIMESTAMP),
        (payload(ts=1763856067), R.BAD_TIMESTAMP),
        (payload(ts="2026-11-23T00:20:00+00:00"), R.CLOCK_SKEW),  # 15 min in the future
        (payload(ts="2026-11-01T00:00:00+00:00"), R.TOO_OLD),
        (payload(readings=[]), R.SCHEMA),
        (payload(readings={"metric": "spo2"}), R.SCHEMA),
        (payload(context=[1]), R.SCHEMA),
        (one("blood_alcohol", 0.1, "%"), R.UNKNOWN_METRIC),
        (one("glucose", 5.5, None), R.MISSING_UNIT),
        (one("glucose", 5.5, "mmol"), R.UNKNOWN_UNIT),
        (one("weight", 80, "mm[Hg]"), R.UNKNOWN_UNIT),
        (one("spo2", "97", "%"), R.NOT_FINITE),
        (one("spo2", True, "%"), R.NOT_FINITE),
        (one("spo2", None, "%"), R.NOT_FINITE),
        (one("systolic_bp", 400, "mm[Hg]"), R.IMPLAUSIBLE),
        (one("glucose", 0, "mg/dL"), R.IMPLAUSIBLE),
        (one("glucose", 1e308, "mmol/L"), R.IMPLAUSIBLE),  # overflows to inf when converted
        (one("spo2", 101, "%"), R.IMPLAUSIBLE),
    ],
)
def test_bad_input_gets_a_reason(data: bytes, reason: RejectReason) -> None:
    result = decode(TOPIC, data, NOW)
    assert result.messages == ()
    assert [r.reason for r in result.rejections] == [reason]


def test_glucose_in_mmol_labelled_mg_dl_is_implausible() -> None:
    # 5.5 "mg/dL" is a unit error (it was mmol/L): it must not reach the detectors as a hypo.
    assert reasons(one("glucose", 5.5, "mg/dL")) == [R.IMPLAUSIBLE]


@pytest.mark.parametrize(
    "topic",
    ["vigil/v1/devices/bp-0007/status", "vigil/v1/devices/+/readings", "other/bp-0007/readings",
     "vigil/v1/devices/a/b/readings", "vigil/v1/devices//readings"],
)  # fmt: skip
def test_only_readings_topics_are_accepted(topic: str) -> None:
    assert reasons(payload(), topic=topic) == [R.BAD_TOPIC]


def test_oversized_payloads_are_refused_before_parsing() -> None:
    big = payload(context={"note": "x" * 70_000})
    assert reasons(big) == [R.OVERSIZED]
    roomy = Limits(
        max_payload_bytes=200_000, max_context_string_chars=100_000, max_context_chars=100_000
    )
    assert reasons(big, limits=roomy) == []
    assert reasons(big, limits=Limits(max_payload_bytes=200_000)) == [R.BAD_CONTEXT]


def test_one_bad_reading_does_not_cost_the_others() -> None:
    data = payload(
        readings=[
            {"metric": "systolic_bp", "value": 142, "unit": "mm[Hg]"},
            {"metric": "heart_rate", "value": 900, "unit": "/min"},
            {"metric": "spo2", "value": 97, "unit": "%"},
        ]
    )
    result = decode(TOPIC, data, NOW)
    (message,) = result.messages
    assert [m.metric for m in message.measurements] == ["systolic_bp", "spo2"]
    assert [(r.reason, r.metric, r.seq) for r in result.rejections] == [
        (R.IMPLAUSIBLE, "heart_rate", 4812)
    ]


def test_systolic_not_above_diastolic_rejects_the_pair_only() -> None:
    data = payload(
        readings=[
            {"metric": "systolic_bp", "value": 80, "unit": "mm[Hg]"},
            {"metric": "diastolic_bp", "value": 95, "unit": "mm[Hg]"},
            {"metric": "heart_rate", "value": 70, "unit": "/min"},
        ]
    )
    result = decode(TOPIC, data, NOW)
    assert [m.metric for m in result.messages[0].measurements] == ["heart_rate"]
    assert sorted(r.metric or "" for r in result.rejections) == ["diastolic_bp", "systolic_bp"]


def test_a_metric_twice_under_one_seq_keeps_the_first() -> None:
    data = payload(
        readings=[
            {"metric": "spo2", "value": 97, "unit": "%"},
            {"metric": "spo2", "value": 91, "unit": "%"},
        ]
    )
    result = decode(TOPIC, data, NOW)
    assert [m.value for m in result.messages[0].measurements] == [97.0]
    assert [r.reason for r in result.rejections] == [R.DUPLICATE_METRIC]


def test_a_backlog_array_decodes_each_message_independently() -> None:
    items = [
        orjson.loads(payload(seq=10, ts="2026-11-22T23:00:00Z")),
        orjson.loads(payload(seq=11, device_id="someone-else")),
        orjson.loads(payload(seq=12, ts="2026-11-22T23:10:00Z")),
    ]
    result = decode(TOPIC, orjson.dumps(items), NOW)
    assert [m.seq for m in result.messages] == [10, 12]
    assert [(r.reason, r.seq) for r in result.rejections] == [(R.DEVICE_MISMATCH, 11)]
    assert result.readings_in_payload == 9


def test_too_many_readings_in_one_payload() -> None:
    items = [orjson.loads(payload(seq=i)) for i in range(5)]
    assert reasons(orjson.dumps(items), limits=Limits(max_readings=14)) == [R.TOO_MANY_READINGS]


@pytest.mark.parametrize(
    ("ts", "reason"),
    [
        ("2026-11-23T00:09:59+00:00", None),  # 4m59s ahead: within the 5 min skew bound
        ("2026-11-23T00:10:01+00:00", R.CLOCK_SKEW),
        ("2026-11-16T00:05:01+00:00", None),  # just under 7 days old
        ("2026-11-16T00:04:59+00:00", R.TOO_OLD),
    ],
)
def test_clock_bounds(ts: str, reason: RejectReason | None) -> None:
    assert reasons(payload(ts=ts)) == ([] if reason is None else [reason])


def test_receive_time_in_another_zone_is_normalised() -> None:
    local = NOW.astimezone(timezone(timedelta(hours=8)))
    (message,) = decode(TOPIC, payload(), local).messages
    assert message.received_at == NOW and message.received_at.tzinfo is UTC


def test_nul_characters_are_refused_before_they_reach_the_database() -> None:
    assert reasons(payload(context={"note": "a\u0000b"})) == [R.MALFORMED]


def test_service_account_names_are_not_device_ids() -> None:
    assert reasons(
        payload(device_id="svc-ingest"), topic="vigil/v1/devices/svc-ingest/readings"
    ) == [R.BAD_TOPIC]
