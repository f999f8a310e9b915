"""Follow PostgreSQL notifications: the one LISTEN loop of every process.

`listen` connects with autocommit, LISTENs on its channels, runs the caller's catch-up and then
waits for notifications, handing each one (or None when the caller's timeout passes first) to
the caller's handler, until cancelled. The catch-up runs after every (re)connect and BEFORE the
first wait: PostgreSQL keeps no notifications for a listener that was away, so whatever was
notified while disconnected is found by the catch-up (a reload, a sweep, a poll) instead.

Errors: a retriable error (`RETRIABLE`: the database restarts or fails over, the connection
drops, the pool is exhausted) from the connection, the catch-up or the handler is logged at
WARNING and the loop reconnects after a delay that doubles up to `max_retry_s`. Anything else
propagates: a programming error must stop the process loudly, not spin in a reconnect loop.

Logging rule, for every database error in the product: the class and SQLSTATE
(`ingest.retry.describe`), never the exception's text, which can quote row values (PHI).

It lives in ingest beside `ingest.retry` (the other shared helper): ingest is the root of the
domain dependency chain, so stream, alerts and api may all import it (tests/unit/test_layering).

Must not: know what a notification means (the handler decides), or run queries of its own on the
listening connection besides LISTEN (callers use their pool, so the listener stays idle).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NoReturn

import psycopg
from psycopg import sql
from psycopg_pool import PoolTimeout

from ingest.retry import describe

log = logging.getLogger(__name__)

# What a database restart, a failover or a dropped connection raises. Not every OSError: a
# missing file or a refused permission does not heal by reconnecting.
RETRIABLE: tuple[type[BaseException], ...] = (
    psycopg.OperationalError,
    psycopg.errors.ReadOnlySqlTransaction,  # a failover in progress: writes come back
    PoolTimeout,
    ConnectionError,
    TimeoutError,
)

Handler = Callable[[psycopg.Notify | None], Awaitable[None]]


async def listen(
    conninfo: str,
    channels: Sequence[str],
    *,
    handle: Handler,
    catch_up: Callable[[], Awaitable[object]],
    timeout_s: Callable[[], float],
    coalesce_s: float | None = None,
    retry_s: float = 0.5,
    max_retry_s: float = 5.0,
) -> NoReturn:
    """Follow `channels` until cancelled (see the module docstring).

    `timeout_s()` is asked before every wait (a next deadline, a poll period). Every notification
    reaches `handle`, unless `coalesce_s` is given: for channels whose notifications only say
    "something changed", a burst (what one read brings, and what follows within `coalesce_s`)
    reaches it as its first notification.
    """
    if not channels:
        raise ValueError("listen needs at least one channel")
    names = ", ".join(channels)
    delay = retry_s
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                for channel in channels:
                    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                await catch_up()
                delay = retry_s  # connected and caught up: the next loss starts the backoff anew
                while True:
                    notes = await _wait(conn, timeout_s(), coalesce_s)
                    for note in notes if notes else (None,):  # None: the timeout passed
                        await handle(note)
        except RETRIABLE as exc:
            log.warning("listener on %s lost the database (%s); reconnecting in %.1f s",
                        names, describe(exc), delay)  # fmt: skip
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_retry_s)


async def _wait(
    conn: psycopg.AsyncConnection[Any], timeout_s: float, coalesce_s: float | None
) -> list[psycopg.Notify]:
    """What arrives within `timeout_s` (empty when nothing did). One read can bring several
    notifications, and without `coalesce_s` each must reach the handler."""
    notes = [n async for n in conn.notifies(timeout=max(0.0, timeout_s), stop_after=1)]
    if not notes or coalesce_s is None:
        return notes
    if coalesce_s > 0:
        notes += [n async for n in conn.notifies(timeout=coalesce_s)]
    return notes[:1]
