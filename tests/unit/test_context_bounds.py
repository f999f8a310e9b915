"""The contract's bounds on `context` (issue 14, finding 1): checked before anything is stored.

A context nested ~1,000 levels deep passed the JSON parser and made psycopg's jsonb dump raise
RecursionError, which stopped the ingest for every patient. Bounds on depth, keys, array items,
string length, numbers and total size are now part of the contract; a context outside them is
dropped with a `bad_context` rejection and the message's readings are still stored.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from ingest.contract import Limits, RejectReason, decode

NOW = datetime(2026, 11, 23, 0, 5, tzinfo=UTC)
TOPIC = "vigil/v1/devices/bp-0007/readings"


def with_context(context: object) -> bytes:
    return json.dumps(
        {"v": 1, "device_id": "bp-0007", "seq": 7, "ts": "2026-11-23T00:04:00+00:00",
         "readings": [{"metric": "spo2", "value": 88, "unit": "%"}], "context": context},
        separators=(",", ":"),
    ).encode()  # fmt: skip


def nested(depth: int) -> object:
    doc: object = 1
    for _ in range(depth):
        doc = {"a": doc}
    return doc


def deep_payload(depth: int) -> bytes:
    head = b'{"v":1,"device_id":"bp-0007","seq":7,"ts":"2026-11-23T00:04:00+00:00",'
    head += b'"readings":[{"metric":"spo2","value":88,"unit":"%"}],"context":'
    return head + b'{"a":' * depth + b"1" + b"}" * depth + b"}"


LIMITS = Limits()
TOO_BIG = [
    pytest.param(deep_payload(1_000), id="1000-levels-deep (the issue's poison message)"),
    pytest.param(with_context(nested(LIMITS.max_context_depth + 1)), id="one level too deep"),
    pytest.param(with_context({f"k{i}": i for i in range(LIMITS.max_context_keys + 1)}),
                 id="too many keys"),
    pytest.param(with_context({"a": list(range(LIMITS.max_context_items + 1))}),
                 id="array too long"),
    pytest.param(with_context({"a": "x" * (LIMITS.max_context_string_chars + 1)}),
                 id="string too long"),
    pytest.param(with_context({"x" * (LIMITS.max_context_string_chars + 1): 1}), id="key too long"),
    pytest.param(with_context({"a": 1e300}), id="number too large"),
    pytest.param(with_context({"a": -(2**64)}), id="integer beyond 64 bits"),
    pytest.param(with_context({f"k{i}": "y" * 900 for i in range(10)}), id="total too large"),
]  # fmt: skip


@pytest.mark.parametrize("data", TOO_BIG)
def test_a_context_outside_the_bounds_is_refused_and_the_readings_kept(data: bytes) -> None:
    result = decode(TOPIC, data, NOW)
    assert [r.reason for r in result.rejections] == [RejectReason.BAD_CONTEXT]
    assert result.rejections[0].seq == 7
    (message,) = result.messages
    assert message.context is None  # dropped: nothing unbounded reaches the database
    assert [m.value for m in message.measurements] == [88.0]  # the dangerous SpO2 is kept


@pytest.mark.parametrize(
    "context",
    [
        {"posture": "sitting", "arm": "left", "cuff": {"size": "M", "fw": [1, 2, 3]}},
        nested(LIMITS.max_context_depth),
        {f"k{i}": i for i in range(LIMITS.max_context_keys)},
        {"a": "x" * LIMITS.max_context_string_chars},
        {"serial": 2**63 - 1, "ratio": -0.5, "ok": True, "none": None},
        {},
    ],
)
def test_a_context_within_the_bounds_is_kept_as_sent(context: object) -> None:
    result = decode(TOPIC, with_context(context), NOW)
    assert result.rejections == ()
    assert result.messages[0].context == context
