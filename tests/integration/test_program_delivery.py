"""Scheduled reminders reach the patient's device once (issue 11 parts 4, 8), end to end on the
real broker and PostgreSQL: the scheduler runs twice over the same hour (an overlapping tick,
a restart), the outbox sender delivers, and the device's inbox holds each reminder once, with
the deterministic message id it would deduplicate on."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from alerts.repository import PgAlertStore
from program.reminders import message_id
from program.scheduler import ProgramScheduler
from tests.integration.conftest import eventually
from tests.integration.test_outbox import (
    inboxes,
    patient_with_a_cuff_only,
    publisher,
    running,
    sender,
)
from vigil.settings import Settings

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]


async def test_a_reminder_reaches_the_device_once(
    settings: Settings, dsn: str, aconn: psycopg.AsyncConnection[Any], tag: str
) -> None:
    patients, cuff = await patient_with_a_cuff_only(settings, dsn, aconn, tag)
    pid = patients[0].patient_id
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    local = now.astimezone(UTC).time()
    dose_at = time(local.hour, local.minute)  # a dose due this minute, in the patient's clock
    await aconn.execute("UPDATE patients SET tz = 'UTC' WHERE id = %s", (pid,))
    await aconn.execute(
        "INSERT INTO patient_records (patient_id, quiet_start, quiet_end) VALUES (%s, '00:00',"
        " '00:00') ON CONFLICT (patient_id) DO UPDATE SET quiet_start = '00:00', quiet_end = '00:00'",
        (pid,),
    )  # no quiet hours: the test runs at any hour
    await aconn.execute(
        "INSERT INTO patient_medications (patient_id, medication_key, name, dose, times, valid_from,"
        " changed_by) VALUES (%s, 'ramipril', 'Ramipril', '5 mg', %s, %s, 'test')",
        (pid, [dose_at], now - timedelta(days=1)),
    )
    async with AsyncConnectionPool(dsn, min_size=1, max_size=4, open=False) as pool:
        scheduler = ProgramScheduler(pool, PgAlertStore(pool), lambda: now)
        first = await scheduler.tick(now)
        second = await scheduler.tick(now + timedelta(seconds=30))
        assert (first.messages, second.messages) == (1, 0)
        expected = str(message_id(pid, "medication_reminder", "ramipril", now))
        async with inboxes(settings, cuff) as (box,):
            out = publisher(settings, tag)
            async with running(sender(pool, dsn, out, poll_s=0.5)):
                assert await box.has(1)
                assert await eventually(lambda: _sent(aconn, expected))
            await out.close()
    # sent once, to the one bound device; the row is marked sent, so no later round resends it
    assert await _sent(aconn, expected) == (1, [cuff])
    assert [m["message_id"] for m in box.received] == [expected]
    assert box.received[0]["template"] == "medication_reminder"
    assert box.received[0]["text"].startswith("Time to take Ramipril, 5 mg")


async def _sent(aconn: psycopg.AsyncConnection[Any], mid: str) -> tuple[int, list[str]] | None:
    cur = await aconn.execute(
        "SELECT attempts, sent_to FROM patient_messages WHERE id = %s AND sent_at IS NOT NULL",
        (mid,),
    )
    row = await cur.fetchone()
    return None if row is None else (row[0], list(row[1]))
