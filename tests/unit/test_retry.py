"""Retrying a durable write (ingest.retry) through a database outage, on a virtual clock.

Issue 14, finding 8: after a 10 s outage the ingest stayed stalled ~21 s more, because the
backoff had doubled up to 16 s by the time the database came back. The write must resume within
`MAX_DELAY_S` of the database's return, whatever the outage's length.
"""

from __future__ import annotations

import logging

import pytest

from ingest.retry import FIRST_DELAY_S, MAX_DELAY_S, retrying

log = logging.getLogger(__name__)


class Outage:
    """A database that refuses writes until `back_at_s` on a virtual clock; `sleep` advances
    the clock instead of waiting."""

    def __init__(self, back_at_s: float) -> None:
        self.back_at_s = back_at_s
        self.now_s = 0.0
        self.attempts = 0

    async def sleep(self, seconds: float) -> None:
        self.now_s += seconds

    async def write(self, batch: list[int]) -> int:
        self.attempts += 1
        if self.now_s < self.back_at_s:
            raise ConnectionError("database unavailable")
        return len(batch)


@pytest.mark.asyncio
@pytest.mark.parametrize("outage_s", [0.2, 10.0, 15.0, 70.0, 600.0])
async def test_a_write_resumes_promptly_after_the_database_returns(outage_s: float) -> None:
    db = Outage(outage_s)
    stored = await retrying(db.write, [1, 2, 3], retriable=(ConnectionError,), what="storing",
                            log=log, sleep=db.sleep)  # fmt: skip
    assert stored == 3
    assert db.now_s - outage_s <= MAX_DELAY_S <= 2.0  # was up to 30 s (~21 s after 10 s down)
    assert db.attempts <= 2 + outage_s / FIRST_DELAY_S  # no busy loop against a down database


@pytest.mark.asyncio
async def test_an_error_that_is_not_retriable_is_raised_at_once() -> None:
    db = Outage(5.0)

    async def fatal(batch: list[int]) -> int:
        raise ValueError("not retriable")

    with pytest.raises(ValueError, match="not retriable"):
        await retrying(fatal, [1], retriable=(ConnectionError,), what="storing", log=log,
                       sleep=db.sleep)  # fmt: skip
    assert db.now_s == 0.0
