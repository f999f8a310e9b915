"""The embedded runner's operator-state snapshots on real PostgreSQL: the final snapshot at
shutdown is what the next start restores, a final snapshot the database refuses is logged
at ERROR (the error's class, never its message), not swallowed, and a periodic snapshot the
database refuses for a while is saved once it accepts writes again, the runner still running."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator

import psycopg
import pytest
import pytest_asyncio
from psycopg_pool import AsyncConnectionPool

from stream.core import StreamCore
from stream.operator import OperatorConfig, StreamOperator
from stream.rules import DEFAULT_RULES
from stream.state import PatientState
from stream.tasks import restore, snapshotter
from tests.integration.conftest import eventually
from vigil.settings import Settings

pytestmark = pytest.mark.asyncio


def fresh_core() -> StreamCore:
    return StreamCore(StreamOperator(DEFAULT_RULES, OperatorConfig()))


@pytest_asyncio.fixture
async def pool(dsn: str) -> AsyncIterator[AsyncConnectionPool]:
    # One connection, so the snapshot uses the very connection the test takes away from it.
    pool = AsyncConnectionPool(dsn, min_size=1, max_size=1, timeout=5, open=False)
    await pool.open(wait=True, timeout=30)
    try:
        yield pool
    finally:
        await pool.close()


RETRIABLE = (psycopg.OperationalError, psycopg.errors.ReadOnlySqlTransaction)


async def start(
    pool: AsyncConnectionPool, core: StreamCore, every_s: float = 3600
) -> asyncio.Task[None]:
    task = asyncio.create_task(snapshotter(pool, core, asyncio.Lock(), every_s, RETRIABLE))
    await asyncio.sleep(0)  # one turn of the loop: the task is inside its loop, not just created
    return task


async def stop(task: asyncio.Task[None]) -> None:
    """Cancel the snapshotter as the runner does at shutdown, and wait for it to finish."""
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.timeout(30)
async def test_the_final_snapshot_is_what_the_next_start_restores(
    pool: AsyncConnectionPool, tag: str
) -> None:
    core = fresh_core()
    core.store.put(PatientState(f"{tag}-p1"))
    await stop(await start(pool, core))

    restarted = fresh_core()
    assert await restore(pool, restarted) == 1
    assert restarted.store.get(f"{tag}-p1") is not None


@pytest.mark.timeout(30)
async def test_a_refused_final_snapshot_is_logged_at_error_without_its_message(
    settings: Settings,
    dsn: str,
    pool: AsyncConnectionPool,
    tag: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    core = fresh_core()
    core.store.put(PatientState(f"{tag}-p1"))
    snapshots = await start(pool, core)
    # The database goes away under the running snapshotter (its pooled connection with it).
    name = psycopg.conninfo.conninfo_to_dict(dsn)["dbname"]
    admin_dsn = settings.db.admin_dsn.get_secret_value()
    async with await psycopg.AsyncConnection.connect(admin_dsn, autocommit=True) as admin:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')

    await stop(snapshots)  # the failure is reported, and the cancellation still goes through

    errors = [r for r in caplog.records if r.name == "stream.tasks" and r.levelno == logging.ERROR]
    assert len(errors) == 1, caplog.text
    # The error's class (and SQLSTATE) and nothing else: database messages can quote row values.
    assert re.fullmatch(
        r"final snapshot of the operator state failed \((\w+)(, SQLSTATE \w+)?\);"
        r" the next start restores the last periodic snapshot",
        errors[0].getMessage(),
    )


async def read_only(settings: Settings, dsn: str, on: bool) -> None:
    name = psycopg.conninfo.conninfo_to_dict(dsn)["dbname"]
    action = (
        "SET default_transaction_read_only = on" if on else "RESET default_transaction_read_only"
    )
    admin_dsn = settings.db.admin_dsn.get_secret_value()
    async with await psycopg.AsyncConnection.connect(admin_dsn, autocommit=True) as admin:
        await admin.execute(f'ALTER DATABASE "{name}" {action}')
        # sessions read the setting when they start: the pool's connection must start again
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )


@pytest.mark.timeout(60)
async def test_a_refused_periodic_snapshot_is_saved_later_and_the_runner_goes_on(
    settings: Settings, dsn: str, pool: AsyncConnectionPool, tag: str,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    core = fresh_core()
    await read_only(settings, dsn, True)
    snapshots = await start(pool, core, every_s=0.05)
    core.store.put(PatientState(f"{tag}-p1"))
    core.changed.add(f"{tag}-p1")

    async def refused() -> bool:
        return any(r.name == "stream.tasks" and r.levelno == logging.WARNING
                   for r in caplog.records)  # fmt: skip

    assert await eventually(refused, timeout_s=20), caplog.text
    assert not snapshots.done()  # a refused snapshot does not stop the runner
    await read_only(settings, dsn, False)

    async def saved() -> bool:
        async with await psycopg.AsyncConnection.connect(dsn) as conn:
            cur = await conn.execute(
                "SELECT count(*) FROM stream_states WHERE patient_id = %s", (f"{tag}-p1",)
            )
            return (await cur.fetchone()) == (1,)

    assert await eventually(saved, timeout_s=20)
    assert not snapshots.done()
    await stop(snapshots)
