"""Tier-1 delivery rules (alerts.delivery): payload, outcomes, backoff. Plain data, no I/O."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from pydantic import ValidationError

from alerts.delivery import (
    NO_BOUND_DEVICE,
    Backlog,
    Backoff,
    OutboxMessage,
    alarm_change,
    describe,
    outcome,
    payload,
    wait_s,
)
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
    assert [b.delay_s(n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    assert b.delay_s(10_000) == 5.0


def test_the_next_attempt_counts_the_failure_just_recorded() -> None:
    b = Backoff(base_s=2.0, max_s=60.0)
    never_failed, failed_twice = message(), replace(message(), failures=2)
    assert b.next_attempt(never_failed, AT) == AT + timedelta(seconds=2)
    assert b.next_attempt(failed_twice, AT) == AT + timedelta(seconds=8)  # the third failure


@pytest.mark.parametrize(
    ("next_due", "wait"),
    [
        (None, 30.0),  # nothing in backoff: the safety-net poll
        (AT + timedelta(seconds=1.5), 1.5),
        (AT + timedelta(minutes=5), 30.0),
        # Due already (it fell due between the last claim and now): go again at once, do not
        # sleep through it. The outage test's flake was this case returning the poll.
        (AT - timedelta(seconds=0.1), 0.0),
    ],
)
def test_the_sender_waits_until_the_next_retry_at_most_the_poll(
    next_due: datetime | None, wait: float
) -> None:
    assert wait_s(next_due, AT, longest_s=30.0) == pytest.approx(wait)


def backlog(count: int, for_device: int = 0) -> Backlog:
    oldest = AT - timedelta(minutes=42) if count else None
    return Backlog(count, oldest, for_device, 900.0, AT)


@pytest.mark.parametrize(
    ("raised", "count", "change"),
    [
        (None, 0, "clear"),  # at start: clear one a previous run may have left open
        (None, 2, "raise"),
        (False, 0, None),
        (False, 1, "raise"),
        (True, 3, None),  # raised once, not again while it lasts
        (True, 0, "clear"),
    ],
)
def test_the_stuck_alarm_changes_only_when_the_backlog_does(
    raised: bool | None, count: int, change: str | None
) -> None:
    assert alarm_change(raised, backlog(count)) == change


def test_the_stuck_alarm_says_how_many_and_how_old_without_patient_data() -> None:
    assert backlog(3, for_device=1).detail() == (
        "3 patient message(s) unsent for over 900 s (oldest 2520 s; 1 waiting for a bound device)"
    )


def test_backoff_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="base_s"):
        Backoff(base_s=0.0)
    with pytest.raises(ValueError, match="base_s"):
        Backoff(base_s=10.0, max_s=1.0)


def test_outbox_settings_refuse_a_base_delay_above_the_cap() -> None:
    assert OutboxSettings().stuck_after_s == 900.0
    assert OutboxSettings().retry_base_s <= OutboxSettings().retry_max_s
    with pytest.raises(ValidationError, match="retry_base_s"):
        OutboxSettings(retry_base_s=10.0, retry_max_s=1.0)
