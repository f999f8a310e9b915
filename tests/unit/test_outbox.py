"""Tier-1 delivery rules (alerts.delivery): payload, outcomes, backoff. Plain data, no I/O."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson
import pytest
from pydantic import ValidationError

from alerts.delivery import NO_BOUND_DEVICE, Backoff, OutboxMessage, describe, outcome, payload
from vigil.settings import OutboxSettings

A, B, C = (uuid.UUID(int=i) for i in (1, 2, 3))
AT = datetime(2026, 11, 23, 8, 1, 7, tzinfo=UTC)


def message(alert_id: uuid.UUID | None = B, metric: str | None = "systolic_bp") -> OutboxMessage:
    return OutboxMessage(
        A, alert_id, "p-1", "remeasure", "zh", "请休息 5 分钟后再测量一次。", metric
    )


def test_payload_carries_the_message_id_and_the_text_as_stored() -> None:
    doc = orjson.loads(payload(message(), AT))
    assert doc == {
        "v": 1,
        "message_id": str(A),
        "alert_id": str(B),
        "template": "remeasure",
        "lang": "zh",
        "text": "请休息 5 分钟后再测量一次。",
        "metric": "systolic_bp",
        "sent_at": "2026-11-23T08:01:07+00:00",
    }


def test_payload_of_a_message_without_an_alert() -> None:
    doc = orjson.loads(payload(message(alert_id=None, metric=None), AT))
    assert doc["alert_id"] is None and doc["metric"] is None


def test_a_redelivery_differs_only_in_sent_at() -> None:
    first = orjson.loads(payload(message(), AT))
    again = orjson.loads(payload(message(), AT.replace(minute=9)))
    assert first.pop("sent_at") != again.pop("sent_at")
    assert first == again


@pytest.mark.parametrize(
    ("devices", "errors", "sent", "error", "attempted"),
    [
        ((), (), False, NO_BOUND_DEVICE, False),
        (("d1",), (None,), True, None, True),
        (("d1", "d2"), (None, None), True, None, True),
        (("d1", "d2"), (None, TimeoutError()), False, "TimeoutError", True),
        (("d1",), (ConnectionError("refused: not authorized"),), False,
         "ConnectionError: refused: not authorized", True),
    ],
)  # fmt: skip
def test_outcome(
    devices: tuple[str, ...],
    errors: tuple[BaseException | None, ...],
    sent: bool,
    error: str | None,
    attempted: bool,
) -> None:
    o = outcome(A, devices, errors)
    assert (o.sent, o.error, o.attempted) == (sent, error, attempted)
    assert o.sent_to == (devices if sent else ())


def test_describe_is_bounded() -> None:
    assert len(describe(RuntimeError("x" * 1000))) == 200


def test_backoff_doubles_up_to_the_cap() -> None:
    b = Backoff(base_s=1.0, max_s=5.0)
    assert [b.failed(A, "e", 0.0) for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_a_waiting_message_is_skipped_until_its_delay_is_over() -> None:
    b = Backoff(base_s=2.0, max_s=60.0)
    b.record([outcome(A, ("d",), (TimeoutError(),)), outcome(B, (), ())], now=100.0)
    assert sorted(b.waiting(101.0)) == [A, B]
    assert b.waiting(102.0) == []
    assert b.wait_s(100.5, longest_s=30.0) == pytest.approx(1.5)
    assert b.wait_s(103.0, longest_s=30.0) == 30.0


def test_failures_keep_counting_after_the_delay_and_a_success_forgets() -> None:
    b = Backoff(base_s=1.0, max_s=60.0)
    b.failed(A, "e", 0.0)
    assert b.waiting(5.0) == []
    assert b.failed(A, "e", 5.0) == 2.0  # the second failure in a row
    b.record([outcome(A, ("d",), (None,))], now=6.0)
    assert b.failed(A, "e", 7.0) == 1.0


def test_entries_long_due_are_forgotten() -> None:
    b = Backoff(base_s=1.0, max_s=10.0)
    b.failed(A, "e", 0.0)
    b.waiting(100.0)  # due at 1.0, not claimed again for over max_s (sent by another sender)
    assert b.failed(A, "e", 100.0) == 1.0


def test_a_binding_change_releases_only_the_messages_waiting_for_a_device() -> None:
    b = Backoff(base_s=30.0, max_s=300.0)
    b.failed(A, NO_BOUND_DEVICE, 0.0)
    b.failed(C, "TimeoutError", 0.0)
    assert b.release(NO_BOUND_DEVICE, 1.0) == 1
    assert b.waiting(1.0) == [C]


def test_backoff_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="base_s"):
        Backoff(base_s=0.0)
    with pytest.raises(ValueError, match="base_s"):
        Backoff(base_s=10.0, max_s=1.0)


def test_outbox_settings_refuse_a_base_delay_above_the_cap() -> None:
    assert OutboxSettings().retry_base_s <= OutboxSettings().retry_max_s
    with pytest.raises(ValidationError, match="retry_base_s"):
        OutboxSettings(retry_base_s=10.0, retry_max_s=1.0)
