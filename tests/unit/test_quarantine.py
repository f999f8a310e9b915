"""Bisecting a failing write down to the messages that fail (ingest.quarantine, issue 14)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from ingest.quarantine import isolating


class OutageError(ConnectionError):
    """Stands for a retriable error: the database is unavailable."""


def run_isolating(items: list[int], poison: set[int]) -> tuple[int, list[int], list[list[int]]]:
    written: list[list[int]] = []

    async def write(part: Sequence[int]) -> int:
        if poison & set(part):
            raise RecursionError("maximum recursion depth exceeded")
        written.append(list(part))
        return len(part)

    total, failed = asyncio.run(isolating(write, items, retriable=(OutageError,)))
    assert all(isinstance(exc, RecursionError) for _, exc in failed)
    return total, [item for item, _ in failed], written


@pytest.mark.parametrize(
    ("size", "poison"),
    [(1, {0}), (10, {4}), (10, {0, 9}), (100, {3, 50, 51, 99}), (7, set()), (8, set(range(7)))],
)
def test_every_good_item_is_written_once_and_only_the_poison_is_returned(
    size: int, poison: set[int]
) -> None:
    items = list(range(size))
    total, failed, written = run_isolating(items, poison)
    assert sorted(failed) == sorted(poison)
    stored = [i for part in written for i in part]
    assert sorted(stored) == [i for i in items if i not in poison]  # each good one exactly once
    assert total == size - len(poison)


def test_when_every_message_of_a_batch_fails_the_store_is_at_fault_and_the_error_raised() -> None:
    with pytest.raises(RecursionError):
        run_isolating(list(range(8)), set(range(8)))


def test_a_retriable_error_is_never_bisected() -> None:
    calls = 0

    async def write(part: Sequence[int]) -> int:
        nonlocal calls
        calls += 1
        raise OutageError("database unavailable")

    with pytest.raises(OutageError):
        asyncio.run(isolating(write, list(range(10)), retriable=(OutageError,)))
    assert calls == 1  # an outage holds the whole batch back: nothing is quarantined
