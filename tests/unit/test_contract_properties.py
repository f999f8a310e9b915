"""Property tests: the contract is total (never raises) and its output is always well-formed."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.contract import METRICS, Limits, decode

NOW = datetime(2026, 11, 23, 0, 5, tzinfo=UTC)
TOPIC = "vigil/v1/devices/dev-1/readings"
LIMITS = Limits()

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)
readings = st.fixed_dictionaries(
    {
        "metric": st.sampled_from([*METRICS, "nope"]) | st.text(max_size=5),
        "value": st.integers() | st.floats() | st.text(max_size=3) | st.none(),
        "unit": st.sampled_from(sorted({u for s in METRICS.values() for u in s.units}))
        | st.none()
        | st.text(max_size=5),
    }
)
messages = st.fixed_dictionaries(
    {
        "v": st.sampled_from([1, 1, 1, 2, "1"]),
        "device_id": st.sampled_from(["dev-1", "dev-1", "dev-2"]),
        "seq": st.integers(min_value=-5, max_value=2**64),
        "ts": st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat())
        | st.text(max_size=30),
        "readings": st.lists(readings, max_size=6),
    }
)


def check(data: bytes) -> None:
    result = decode(TOPIC, data, NOW, LIMITS)
    for m in result.messages:
        assert m.device_id == "dev-1"
        assert m.measured_at.tzinfo is UTC
        assert NOW - LIMITS.max_age <= m.measured_at <= NOW + LIMITS.future_skew
        assert m.measurements
        for x in m.measurements:
            spec = METRICS[x.metric]
            assert math.isfinite(x.value)
            assert spec.plausible_min <= x.value <= spec.plausible_max
            assert x.unit == spec.canonical_unit
    for r in result.rejections:
        assert r.reason and isinstance(r.detail, str)


@settings(max_examples=500)
@given(st.binary(max_size=300))
def test_no_byte_string_makes_decode_raise(data: bytes) -> None:
    check(data)


@settings(max_examples=500)
@given(json_values)
def test_no_json_document_makes_decode_raise(doc: object) -> None:
    check(json.dumps(doc).encode())


@settings(max_examples=500)
@given(st.one_of(messages, st.lists(messages, max_size=4)))
def test_near_valid_messages_are_accepted_or_rejected_never_raise(doc: object) -> None:
    check(json.dumps(doc).encode())


@given(st.floats(min_value=0.0, max_value=10 * 86_400), st.sampled_from(sorted(METRICS)))
def test_valid_readings_within_bounds_are_accepted(age_s: float, metric: str) -> None:
    spec = METRICS[metric]
    value = (spec.plausible_min + spec.plausible_max) / 2
    if metric == "systolic_bp":
        value = 150.0
    ts = (NOW - timedelta(seconds=age_s)).isoformat()
    doc = {"v": 1, "device_id": "dev-1", "seq": 1, "ts": ts,
           "readings": [{"metric": metric, "value": value, "unit": spec.canonical_unit}]}  # fmt: skip
    result = decode(TOPIC, orjson.dumps(doc), NOW, LIMITS)
    assert (len(result.messages) == 1) == (age_s <= LIMITS.max_age_s)
