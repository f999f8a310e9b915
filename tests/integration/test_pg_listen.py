"""ingest.pg_listen on real PostgreSQL: notifications reach the handler, a killed listening
backend is reconnected and caught up, a database error's text never reaches the log, and a
non-retriable error stops the loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ingest.pg_listen import listen
from tests.integration.conftest import eventually
from vigil.settings import Settings

pytestmark = pytest.mark.asyncio

CHANNEL = "vigil_test_listen"
OTHER = "vigil_test_other"
FAST = {"retry_s": 0.05, "max_retry_s": 0.2}  # the helper's own backoff, kept short for tests


@dataclass
class Listener:
    """What a `listen` loop saw: the notifications (None for a timeout) and its catch-ups."""

    notes: list[psycopg.Notify | None] = field(default_factory=list)
    catch_ups: int = 0

    async def handle(self, note: psycopg.Notify | None) -> None:
        self.notes.append(note)

    async def catch_up(self) -> None:
        self.catch_ups += 1

    def payloads(self) -> list[str]:
        return [n.payload for n in self.notes if n is not None]


@contextlib.asynccontextmanager
async def running(coro: Awaitable[Any]) -> AsyncIterator[asyncio.Task[Any]]:
    task = asyncio.ensure_future(coro)
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until(check: Callable[[], bool]) -> None:
    async def ok() -> bool:
        return check()

    assert await eventually(ok, timeout_s=10, interval_s=0.02)


async def notify(aconn: psycopg.AsyncConnection[Any], channel: str, payload: str) -> None:
    await aconn.execute("SELECT pg_notify(%s, %s)", (channel, payload))


async def test_notifications_on_every_channel_reach_the_handler(
    dsn: str, aconn: psycopg.AsyncConnection[Any]
) -> None:
    seen = Listener()
    loop = listen(dsn, [CHANNEL, OTHER], handle=seen.handle, catch_up=seen.catch_up,
                  timeout_s=lambda: 3600.0, **FAST)  # fmt: skip
    async with running(loop):
        await until(lambda: seen.catch_ups == 1)  # LISTEN is on before the catch-up runs
        await notify(aconn, CHANNEL, "one")
        await notify(aconn, OTHER, "two")
        await until(lambda: len(seen.notes) == 2)
    assert [(n.channel, n.payload) for n in seen.notes if n] == [(CHANNEL, "one"), (OTHER, "two")]
    assert seen.catch_ups == 1


async def test_a_timeout_hands_none_to_the_handler(dsn: str) -> None:
    seen = Listener()
    loop = listen(dsn, [CHANNEL], handle=seen.handle, catch_up=seen.catch_up,
                  timeout_s=lambda: 0.01, **FAST)  # fmt: skip
    async with running(loop):
        await until(lambda: len(seen.notes) >= 2)
    assert set(seen.notes) == {None}


async def test_a_burst_is_coalesced_when_asked(
    dsn: str, aconn: psycopg.AsyncConnection[Any]
) -> None:
    seen = Listener()
    loop = listen(dsn, [CHANNEL], handle=seen.handle, catch_up=seen.catch_up,
                  timeout_s=lambda: 3600.0, coalesce_s=0.5, **FAST)  # fmt: skip
    async with running(loop):
        await until(lambda: seen.catch_ups == 1)
        async with aconn.transaction():  # delivered together, at commit
            for i in range(5):
                await notify(aconn, CHANNEL, f"burst{i}")
        await until(lambda: len(seen.notes) == 1)
        await notify(aconn, CHANNEL, "after")
        await until(lambda: len(seen.notes) == 2)
    assert seen.payloads() == ["burst0", "after"]


async def listening_pids(settings: Settings, dsn: str) -> list[int]:
    dbname = conninfo_to_dict(dsn)["dbname"]
    admin = settings.db.admin_dsn.get_secret_value()
    async with await psycopg.AsyncConnection.connect(admin, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND query LIKE 'LISTEN %%'",
            (dbname,),
        )
        return [pid for (pid,) in await cur.fetchall()]


async def test_a_killed_backend_is_reconnected_and_caught_up(
    settings: Settings,
    dsn: str,
    aconn: psycopg.AsyncConnection[Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="ingest.pg_listen")
    seen = Listener()
    loop = listen(dsn, [CHANNEL], handle=seen.handle, catch_up=seen.catch_up,
                  timeout_s=lambda: 3600.0, **FAST)  # fmt: skip
    async with running(loop):
        await until(lambda: seen.catch_ups == 1)
        (pid,) = await listening_pids(settings, dsn)
        await aconn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        await until(lambda: seen.catch_ups == 2)  # reconnected, LISTENing again, caught up
        assert await listening_pids(settings, dsn) != [pid]
        await notify(aconn, CHANNEL, "after the kill")
        await until(lambda: seen.payloads() == ["after the kill"])
    (warning,) = [r for r in caplog.records if r.name == "ingest.pg_listen"]
    assert warning.levelname == "WARNING" and warning.exc_info is None
    # the class (and SQLSTATE when the server's FATAL is read before the socket closes)
    assert re.fullmatch(
        rf"listener on {CHANNEL} lost the database \((OperationalError|AdminShutdown, SQLSTATE "
        r"57P01)\); reconnecting in 0\.\d s",
        warning.getMessage(),
    )
    for text in ("terminating connection", "server closed", "consuming input"):
        assert text not in caplog.text  # psycopg's and the server's message text


def listener_messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "ingest.pg_listen"]


async def test_a_database_errors_text_never_reaches_the_log(
    dsn: str, aconn: psycopg.AsyncConnection[Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    marker = "Jane-Doe-1960-02-29"
    seen = Listener()

    async def catch_up() -> None:
        await seen.catch_up()
        if seen.catch_ups == 1:  # a retriable error (class 53) quoting a "patient" value
            await aconn.execute(
                f"DO $$ BEGIN RAISE EXCEPTION 'patient {marker}' USING ERRCODE = '53000',"
                f" DETAIL = 'name {marker}'; END $$"
            )

    loop = listen(dsn, [CHANNEL], handle=seen.handle, catch_up=catch_up,
                  timeout_s=lambda: 3600.0, **FAST)  # fmt: skip
    async with running(loop):
        await until(lambda: seen.catch_ups == 2)
    # a database whose very name is the marker: the connection itself fails, and keeps failing
    missing = make_conninfo(dsn, dbname=f"vigil_{marker}")
    failing = listen(missing, [CHANNEL], handle=seen.handle, catch_up=seen.catch_up,
                     timeout_s=lambda: 3600.0, **FAST)  # fmt: skip
    async with running(failing):
        await until(lambda: len(listener_messages(caplog)) >= 3)
    messages = listener_messages(caplog)
    assert "InsufficientResources, SQLSTATE 53000" in messages[0]
    assert all("OperationalError" in m for m in messages[1:])
    assert marker not in caplog.text
    assert all(r.exc_info is None for r in caplog.records)


async def test_a_non_retriable_error_propagates(
    dsn: str, aconn: psycopg.AsyncConnection[Any]
) -> None:
    seen = Listener()

    async def broken_catch_up() -> None:
        await aconn.execute("SELECT * FROM no_such_table")

    loop = listen(dsn, [CHANNEL], handle=seen.handle, catch_up=broken_catch_up,
                  timeout_s=lambda: 3600.0, **FAST)  # fmt: skip
    with pytest.raises(psycopg.errors.UndefinedTable):
        await asyncio.wait_for(loop, 10)

    async def broken_handler(note: psycopg.Notify | None) -> None:
        raise ValueError("a bug in the handler")

    loop = listen(dsn, [CHANNEL], handle=broken_handler, catch_up=seen.catch_up,
                  timeout_s=lambda: 0.0, **FAST)  # fmt: skip
    with pytest.raises(ValueError, match="a bug in the handler"):
        await asyncio.wait_for(loop, 10)
