"""The outbox's durable backoff and its stuck-messages alarm, on real PostgreSQL and Mosquitto with
the sender's clock in the test's hands: delivery passes are driven by calling `send_pending`,
never by waiting for a timer."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
import pytest_asyncio
from psycopg_pool import AsyncConnectionPool

from alerts.delivery import Backoff
from alerts.outbox import OutboxSender, Publish
from tests.integration.conftest import eventually
from tests.integration.devices import bp_device, enrol
from tests.integration.stack import free_port
from tests.integration.test_outbox import (
    Switch,
    inboxes,
    patient_with_a_cuff_only,
    publisher,
    row,
    running,
    write_message,
)
from vigil.settings import Settings

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def pool(dsn: str) -> AsyncIterator[AsyncConnectionPool]:
    async with AsyncConnectionPool(dsn, min_size=1, max_size=4, open=False) as p:
        yield p


class FakeClock:
    """The sender's wall clock, moved by the test. It starts at the real time, so that rows the
    database stamps with now() (created_at) are about as old as the test says."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def sender_at(
    clock: Any, pool: AsyncConnectionPool, dsn: str, publish: Publish, **kw: Any
) -> OutboxSender:
    return OutboxSender(pool, dsn, publish, clock=clock, poll_s=60.0, **kw)


async def backoff_of(aconn: psycopg.AsyncConnection[Any], message_id: uuid.UUID) -> tuple[Any, ...]:
    cur = await aconn.execute(
        "SELECT attempts, failures, next_attempt_at FROM patient_messages WHERE id = %s",
        (message_id,),
    )
    found = await cur.fetchone()
    assert found is not None
    return tuple(found)


async def stuck_alarms(aconn: psycopg.AsyncConnection[Any]) -> list[tuple[Any, ...]]:
    cur = await aconn.execute(
        "SELECT status, count, detail, resolved_at FROM technical_alerts"
        " WHERE kind = 'outbox_stuck' AND subject = 'patient_messages' ORDER BY id"
    )
    return list(await cur.fetchall())


@pytest.mark.timeout(60)
async def test_the_backoff_is_stored_and_survives_a_restart(
    settings: Settings, dsn: str, aconn: psycopg.AsyncConnection[Any], pool: AsyncConnectionPool,
    tag: str,
) -> None:  # fmt: skip
    patients, cuff = await patient_with_a_cuff_only(settings, dsn, aconn, tag)
    clock, port = FakeClock(), Switch(publisher(settings, tag, port=free_port()))
    backoff = Backoff(base_s=10.0, max_s=80.0)
    first = sender_at(clock, pool, dsn, port, backoff=backoff)
    message_id = await write_message(aconn, patients[0].patient_id)

    assert await first.send_pending() == 0  # the broker is unreachable
    assert await backoff_of(aconn, message_id) == (1, 1, clock.now + timedelta(seconds=10))
    assert first.wait_s() == pytest.approx(10.0)
    clock.advance(9.9)
    await first.send_pending()
    assert (await backoff_of(aconn, message_id))[:2] == (1, 1)  # not due yet: not tried

    restarted = sender_at(clock, pool, dsn, port, backoff=backoff)  # nothing in its memory
    await restarted.send_pending()
    assert (await backoff_of(aconn, message_id))[:2] == (1, 1)  # still not resent early
    assert restarted.wait_s() == pytest.approx(0.1)
    clock.advance(0.2)
    assert restarted.wait_s() == 0.0  # due now: no sleeping through it
    await restarted.send_pending()
    # The second failure in a row: 20 s, the doubling carried on across the restart.
    assert await backoff_of(aconn, message_id) == (2, 2, clock.now + timedelta(seconds=20))

    port.target = working = publisher(settings, tag)
    async with inboxes(settings, cuff) as [box]:
        clock.advance(20.0)
        assert await restarted.send_pending() == 1
        assert await box.has(1)
    r = await row(aconn, message_id)
    assert (r["sent_at"], r["attempts"], r["last_error"]) == (clock.now, 3, None)
    await working.close()


@pytest.mark.timeout(60)
async def test_messages_stuck_unsent_raise_one_alarm_cleared_when_they_drain(
    settings: Settings, dsn: str, aconn: psycopg.AsyncConnection[Any], pool: AsyncConnectionPool,
    tag: str,
) -> None:  # fmt: skip
    patients, cuff = await patient_with_a_cuff_only(settings, dsn, aconn, tag)
    clock, port = FakeClock(), Switch(publisher(settings, tag, port=free_port()))
    out = sender_at(clock, pool, dsn, port, backoff=Backoff(1.0, 1.0), stuck_after_s=600.0)
    await write_message(aconn, patients[0].patient_id)
    await out.send_pending()
    assert await stuck_alarms(aconn) == []  # failing, but not for long yet

    clock.advance(601)
    await out.send_pending()
    [(status, count, detail, _)] = await stuck_alarms(aconn)
    assert (status, count) == ("open", 1)
    assert detail.startswith("1 patient message(s) unsent for over 600 s (oldest 60")

    for _ in range(3):  # still stuck: the alarm stays as it is, raised once
        clock.advance(60)
        await out.send_pending()
    [(status, count, _, _)] = await stuck_alarms(aconn)
    assert (status, count) == ("open", 1)

    port.target = working = publisher(settings, tag)
    async with inboxes(settings, cuff) as [box]:
        clock.advance(1)
        assert await out.send_pending() == 1
        assert await box.has(1)
    assert await stuck_alarms(aconn) == [("resolved", 1, detail, clock.now)]
    await working.close()


@pytest.mark.timeout(60)
async def test_a_bound_device_releases_only_its_patients_messages(
    settings: Settings, dsn: str, aconn: psycopg.AsyncConnection[Any], pool: AsyncConnectionPool,
    tag: str,
) -> None:  # fmt: skip
    patients, _ = await enrol(settings, dsn, tag, patients=2)
    await aconn.execute("UPDATE device_bindings SET valid_to = now()")  # nobody has a device
    clock, mqtt_out = FakeClock(), publisher(settings, tag)
    out = sender_at(clock, pool, dsn, mqtt_out, backoff=Backoff(600.0, 600.0))
    waiting = [await write_message(aconn, p.patient_id) for p in patients]
    await out.send_pending()
    assert [(await backoff_of(aconn, m))[:2] for m in waiting] == [(0, 1), (0, 1)]

    cuff = bp_device(patients, 0)
    await aconn.execute(
        "INSERT INTO device_bindings (device_id, patient_id, valid_from) VALUES (%s, %s, now())",
        (cuff, patients[0].patient_id),
    )
    assert await out.device_bound(cuff) == 1
    async with inboxes(settings, cuff) as [box]:
        assert await out.send_pending() == 1  # long before the 10 min backoff ends
        assert await box.has(1)
    assert (await row(aconn, waiting[0]))["sent_to"] == [cuff]
    assert (await row(aconn, waiting[1]))["sent_at"] is None  # still waiting for a device
    await mqtt_out.close()


@pytest.mark.timeout(60)
async def test_a_retry_falling_due_while_the_sender_looks_away_is_not_slept_through(
    settings: Settings, dsn: str, aconn: psycopg.AsyncConnection[Any], pool: AsyncConnectionPool,
    tag: str,
) -> None:  # fmt: skip
    """The outage test's flake, made certain: a loaded machine, where each look at the clock is
    150 ms after the last, so a 0.2 s backoff ends between the claim that skips the message and
    the computation of the wait. The earlier sender then slept for the whole poll (60 s)."""
    patients, _ = await enrol(settings, dsn, tag, patients=1)
    start, ticks = datetime.now(UTC), itertools.count()

    def slow() -> datetime:
        return start + timedelta(seconds=0.15 * next(ticks))

    port = Switch(publisher(settings, tag, port=free_port()))
    backoff = Backoff(base_s=0.2, max_s=0.2)
    async with running(sender_at(slow, pool, dsn, port, backoff=backoff)):
        message_id = await write_message(aconn, patients[0].patient_id)

        async def retried() -> bool:
            return (await row(aconn, message_id))["attempts"] >= 2

        assert await eventually(retried, timeout_s=20)
