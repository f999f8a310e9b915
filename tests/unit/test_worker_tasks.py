"""The Faust worker's background tasks: one that stops with an error crashes the worker."""

from __future__ import annotations

import asyncio
import logging

import psycopg
import pytest

from vigil.worker import stop_on_error

PHI = "Key (patient_id)=(Jane Doe) is not present"


@pytest.mark.asyncio
async def test_a_background_task_stopped_by_an_error_crashes_the_worker(
    caplog: pytest.LogCaptureFixture,
) -> None:
    crashed: list[BaseException] = []
    done = asyncio.Event()

    async def crash(reason: BaseException) -> None:
        crashed.append(reason)
        done.set()

    async def watcher() -> None:
        raise psycopg.errors.ForeignKeyViolation(PHI)

    keep: set[asyncio.Task[None]] = set()
    task = asyncio.create_task(watcher(), name="overrides")
    task.add_done_callback(lambda t: stop_on_error(t, crash, keep))
    with caplog.at_level(logging.CRITICAL, logger="vigil"):
        await asyncio.wait_for(done.wait(), 5)
    assert "ForeignKeyViolation" in str(crashed[0]) and "overrides" in str(crashed[0])
    assert "ForeignKeyViolation" in caplog.text
    assert "Jane Doe" not in caplog.text and "Jane Doe" not in str(crashed[0])


@pytest.mark.asyncio
async def test_a_cancelled_background_task_crashes_nothing() -> None:
    crashed: list[BaseException] = []

    async def crash(reason: BaseException) -> None:
        crashed.append(reason)

    task = asyncio.create_task(asyncio.Event().wait())
    task.add_done_callback(lambda t: stop_on_error(t, crash, set()))
    task.cancel()
    await asyncio.wait({task})
    await asyncio.sleep(0)
    assert crashed == []
