"""The device side of tier-1 delivery (simulators.inbox): parse, deduplicate, re-measure."""

from __future__ import annotations

import orjson
import pytest

from simulators.inbox import Inbox, PatientMessage, parse, remeasure_of


def raw(
    message_id: str = "m1", template: str = "remeasure", metric: str | None = "glucose"
) -> bytes:
    return orjson.dumps({"v": 1, "message_id": message_id, "alert_id": None, "template": template,
                         "lang": "en", "text": "Please measure again.", "metric": metric,
                         "sent_at": "2026-11-23T08:01:07+00:00"})  # fmt: skip


def test_parse_a_message() -> None:
    assert parse(raw()) == PatientMessage("m1", "remeasure", "glucose", "Please measure again.")


@pytest.mark.parametrize(
    "data",
    [b"", b"not json", b"[]", b'{"v": 2, "message_id": "m"}', b'{"v": 1, "template": "advice"}'],
)
def test_what_is_not_a_message_is_none(data: bytes) -> None:
    assert parse(data) is None


def test_a_redelivered_message_is_shown_once() -> None:
    inbox = Inbox()
    first = parse(raw("m1"))
    assert first is not None
    assert inbox.receive(first) is True
    assert inbox.receive(first) is False
    assert (len(inbox.shown), inbox.duplicates) == (1, 1)


def test_the_inbox_remembers_a_bounded_number_of_ids() -> None:
    inbox = Inbox(memory=2)
    for i in range(3):
        inbox.receive(PatientMessage(f"m{i}", "advice", None, ""))
    assert [m.message_id for m in inbox.shown] == ["m1", "m2"]
    assert inbox.receive(PatientMessage("m0", "advice", None, "")) is True  # long forgotten


@pytest.mark.parametrize(
    ("template", "metric", "metrics", "expected"),
    [
        ("remeasure", "systolic_bp", ("systolic_bp", "diastolic_bp", "heart_rate"), True),
        ("remeasure", "systolic_bp", ("heart_rate", "spo2"), False),  # the wearable: not its metric
        ("remeasure", None, ("glucose",), False),
        ("reminder", "glucose", ("glucose",), False),
        ("advice", "glucose", ("glucose",), False),
    ],
)
def test_who_measures_again(
    template: str, metric: str | None, metrics: tuple[str, ...], expected: bool
) -> None:
    assert remeasure_of(PatientMessage("m", template, metric, ""), metrics) is expected
