"""Retry a durable write with exponential backoff while the failure is retriable.

Used wherever a batch must not be acknowledged until it is stored: the ingest's hand-off and
the Faust worker's database write. Only the exception types the caller names are retried (an
unavailable database or broker); anything else propagates and stops the process.

The delay doubles from 0.5 s but stops at `MAX_DELAY_S` (2 s): an outage ends unannounced, and
every second between the database's return and the next attempt is a second of readings not
stored, alerts not raised and devices not acknowledged (a 30 s cap stalled the ingest for ~21 s
after a 10 s outage; issue 14). One failed attempt every 2 s costs the database nothing.

It also holds the product's one rule for logging an exception: `describe` (class and SQLSTATE)
and `frames` (where it was raised), never the exception's text, which can quote row values.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Awaitable, Callable
from typing import TypeVar


def describe(exc: BaseException) -> str:
    """An exception's class and SQLSTATE, without its message: database messages can quote row
    values (PHI), and logs must not carry them."""
    sqlstate = getattr(exc, "sqlstate", None)
    return f"{type(exc).__name__}" + (f", SQLSTATE {sqlstate}" if sqlstate else "")


def frames(exc: BaseException) -> str:
    """Where an exception was raised (its traceback's frames), without its message: what
    `log.exception` would show, minus the text that can carry PHI."""
    return "".join(traceback.format_tb(exc.__traceback__)).rstrip()


A = TypeVar("A")
T = TypeVar("T")
FIRST_DELAY_S = 0.5
MAX_DELAY_S = 2.0


async def retrying(
    write: Callable[[A], Awaitable[T]],
    batch: A,
    *,
    retriable: tuple[type[BaseException], ...],
    what: str,
    log: logging.Logger,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """`await write(batch)`, retried until it succeeds or fails with a non-retriable error.
    `sleep` waits between attempts (a test passes a virtual clock's)."""
    delay = FIRST_DELAY_S
    while True:
        try:
            return await write(batch)
        except retriable as exc:
            log.error("%s failed (%s); retrying in %.1f s", what, describe(exc), delay)
            await sleep(delay)
            delay = min(delay * 2, MAX_DELAY_S)
