"""A message's fingerprint: its content as sent, the same for every copy of it (issue 14, #5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from ingest import bound
from ingest.bound import BoundMessage
from ingest.contract import decode

NOW = datetime(2026, 11, 23, 0, 5, tzinfo=UTC)
TOPIC = "vigil/v1/devices/cgm-1/readings"


def senml(value: float, t: float = -60, bt: float | None = None) -> bytes:
    record: dict[str, object] = {"bn": "urn:dev:id:cgm-1:", "seq": 9, "n": "glucose",
                                 "u": "mg/dL", "v": value, "t": t}  # fmt: skip
    if bt is not None:
        record["bt"] = bt
    return orjson.dumps([record])


def v1(value: float, ts: str = "2026-11-23T08:01:07+08:00") -> bytes:
    return orjson.dumps({"v": 1, "device_id": "cgm-1", "seq": 9, "ts": ts,
                         "readings": [{"metric": "glucose", "value": value, "unit": "mg/dL"}]})  # fmt: skip


def print_of(data: bytes, received: datetime = NOW) -> bytes:
    (message,) = decode(TOPIC, data, received).messages
    assert len(message.fingerprint) == 16
    return message.fingerprint


@pytest.mark.parametrize("later_s", [1, 30, 3_600])
def test_a_relative_senml_pack_received_later_keeps_its_fingerprint(later_s: float) -> None:
    assert print_of(senml(100)) == print_of(senml(100), NOW + timedelta(seconds=later_s))
    (first,) = decode(TOPIC, senml(100), NOW).messages
    (again,) = decode(TOPIC, senml(100), NOW + timedelta(seconds=later_s)).messages
    assert first.measured_at != again.measured_at  # new times, same message


def test_the_same_instant_written_another_way_is_the_same_message() -> None:
    assert print_of(v1(100)) == print_of(v1(100, "2026-11-23T00:01:07+00:00"))
    absolute = NOW.timestamp() - 60
    assert print_of(senml(100, 0, absolute)) == print_of(
        senml(100, 0, absolute), NOW + timedelta(1)
    )


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (v1(100), v1(101)),
        (v1(100), v1(100, "2026-11-23T08:01:08+08:00")),
        (senml(100), senml(101)),
        (senml(100), senml(100, -61)),
    ],
)
def test_other_content_under_the_same_seq_has_another_fingerprint(a: bytes, b: bytes) -> None:
    assert print_of(a) != print_of(b)


def test_the_fingerprint_travels_on_the_bus() -> None:
    (message,) = decode(TOPIC, senml(100), NOW).messages
    wire = bound.encode(BoundMessage("p1", message))
    assert bound.decode(wire).message.fingerprint == message.fingerprint
