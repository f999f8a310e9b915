"""The Faust agent's own account of offsets: every record processed once, in order, or re-read."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from stream.offsets import REWIND_RETRY_S, Admit, OffsetGuard, rewind, start_positions

P0, P1 = ("readings", 0), ("readings", 1)


def started(**positions: int) -> OffsetGuard:
    guard = OffsetGuard()
    guard.start({("readings", int(p[1:])): o for p, o in positions.items()}, now=0.0)
    return guard


def test_records_in_order_are_processed_and_advance_the_expected_offset() -> None:
    guard = started(p0=10)
    assert [guard.admit(P0, o, 1.0) for o in (10, 11, 12)] == [Admit.PROCESS] * 3
    assert guard.expected(P0) == 13


@pytest.mark.parametrize("offset", [0, 5, 9])
def test_a_record_below_the_expected_offset_is_a_redelivery(offset: int) -> None:
    guard = started(p0=10)
    assert guard.admit(P0, offset, 1.0) is Admit.REDELIVERED
    assert guard.expected(P0) == 10


@pytest.mark.parametrize("offset", [11, 25])
def test_a_record_past_a_gap_is_refused_and_the_expected_offset_kept(offset: int) -> None:
    guard = started(p0=10)
    assert guard.admit(P0, offset, 1.0) is Admit.MISSING_BEFORE
    assert guard.expected(P0) == 10  # the gap is read again from here, nothing skipped
    assert guard.admit(P0, 10, 2.0) is Admit.PROCESS


def test_partitions_are_accounted_separately() -> None:
    guard = started(p0=3, p1=0)
    assert guard.admit(P1, 0, 1.0) is Admit.PROCESS
    assert guard.admit(P0, 4, 1.0) is Admit.MISSING_BEFORE
    assert (guard.expected(P0), guard.expected(P1)) == (3, 1)


def test_a_partition_without_an_assignment_is_taken_as_it_comes() -> None:
    guard = OffsetGuard()
    assert guard.admit(P0, 42, 1.0) is Admit.PROCESS
    assert guard.expected(P0) == 43


def test_a_revocation_forgets_everything() -> None:
    guard = started(p0=10)
    guard.clear()
    assert guard.expected(P0) is None


def test_a_rewind_is_not_repeated_until_the_retry_interval_passed() -> None:
    guard = started(p0=10)
    assert guard.rewind_due(P0, 100.0)
    assert not guard.rewind_due(P0, 100.0 + REWIND_RETRY_S / 2)
    assert guard.rewind_due(P0, 100.0 + REWIND_RETRY_S)


def test_progress_after_a_rewind_allows_the_next_one_at_once() -> None:
    guard = started(p0=10)
    assert guard.rewind_due(P0, 100.0)
    guard.admit(P0, 10, 100.5)
    assert guard.rewind_due(P0, 101.0)


@pytest.mark.parametrize(
    ("highwater", "idle_s", "stalled"),
    [
        (20, 6.0, True),  # records waiting, nothing processed for 6 s
        (20, 4.0, False),  # not long enough
        (10, 60.0, False),  # nothing beyond the expected offset: just a quiet partition
        (None, 60.0, False),  # highwater not known yet
    ],
)
def test_a_partition_stalls_only_when_it_has_records_and_makes_no_progress(
    highwater: int | None, idle_s: float, stalled: bool
) -> None:
    guard = started(p0=10)
    assert guard.stalled([(P0, highwater)], idle_s, after_s=5.0) == ([P0] if stalled else [])


class TP(tuple[str, int]):
    @property
    def topic(self) -> str:
        return self[0]


def tp(partition: int, topic: str = "readings") -> TP:
    return TP((topic, partition))


def test_a_failed_batch_is_expected_again() -> None:
    guard = started(p0=10)
    before = guard.positions([P0, P1])
    guard.admit(P0, 10, 1.0)
    guard.admit(P1, 7, 1.0)  # a partition the guard had not seen
    guard.restore(before)
    assert (guard.expected(P0), guard.expected(P1)) == (10, None)


def test_a_batch_failing_after_a_reassignment_leaves_the_new_positions_alone() -> None:
    guard = started(p0=10)
    before = guard.positions([P0])
    guard.admit(P0, 10, 1.0)
    guard.clear()  # revoked while the batch was in flight (it is then cancelled)
    guard.start({P0: 50}, now=2.0)
    guard.restore(before)
    assert guard.expected(P0) == 50


def test_a_long_batch_counts_as_progress_for_its_partitions_only() -> None:
    guard = started(p0=10, p1=0)
    guard.admit(P0, 10, 0.0)
    guard.touch([P0], 60.0)  # the batch took a minute (a database outage, say)
    assert guard.stalled([(P0, 20), (P1, 5)], 61.0, after_s=5.0) == [P1]


@dataclass
class FakeConsumer:
    """The few aiokafka consumer calls the helpers make, over an in-memory partition table."""

    committed: dict[TP, int | None]
    earliest: dict[TP, int]
    seeks: list[tuple[TP, int]] = field(default_factory=list)
    _gap: dict[TP, str] = field(default_factory=dict)  # faust's gap bookkeeping, per partition
    ends: dict[TP, int] = field(default_factory=dict)  # log end offsets (default 1,000)

    def assignment(self) -> set[TP]:
        return set(self.committed) | {tp(0, "other-topic")}  # not ours: left alone

    async def seek_to_committed(self) -> dict[TP, int | None]:
        return dict(self.committed)

    async def highwaters(self, *tps: TP) -> dict[TP, int]:
        return {p: self.ends.get(p, 1_000) for p in tps}

    async def earliest_offsets(self, *tps: TP) -> dict[TP, int]:
        return {p: self.earliest[p] for p in tps}

    async def seek(self, partition: TP, offset: int) -> None:
        self.seeks.append((partition, offset))


def test_start_positions_use_the_commit_or_else_the_first_record() -> None:
    consumer = FakeConsumer(
        committed={tp(0): 7, tp(1): None, tp(2): 0}, earliest={tp(1): 3, tp(2): 0}
    )
    positions = asyncio.run(start_positions(consumer, "readings"))
    assert positions == {tp(0): 7, tp(1): 3, tp(2): 0}
    assert sorted(consumer.seeks) == [(tp(1), 3), (tp(2), 0)]  # those aiokafka leaves alone


def test_a_commit_past_the_end_of_the_log_restarts_at_the_first_record(
    caplog: pytest.LogCaptureFixture,
) -> None:
    consumer = FakeConsumer(committed={tp(0): 5_000}, earliest={tp(0): 0}, ends={tp(0): 40})
    assert asyncio.run(start_positions(consumer, "readings")) == {tp(0): 0}
    assert consumer.seeks == [(tp(0), 0)]
    assert any(r.levelname == "ERROR" for r in caplog.records)  # not a quiet skip of 40 records


@pytest.mark.parametrize(("first", "seek_to"), [(0, 10), (10, 10), (15, 15)])
def test_rewind_seeks_back_to_the_expected_record_or_the_first_left(
    first: int, seek_to: int, caplog: pytest.LogCaptureFixture
) -> None:
    guard = OffsetGuard()
    guard.start({tp(0): 10}, now=0.0)
    consumer = FakeConsumer(committed={tp(0): 10}, earliest={tp(0): first})
    asyncio.run(rewind(consumer, guard, tp(0), "records missing"))
    assert consumer.seeks == [(tp(0), seek_to)]
    assert guard.expected(tp(0)) == seek_to
    deleted = [r for r in caplog.records if r.levelname == "ERROR"]
    assert bool(deleted) is (first > 10)  # a loss to retention is never quiet


def test_rewind_forgets_the_gaps_faust_noted_so_it_cannot_commit_past_them() -> None:
    guard = OffsetGuard()
    guard.start({tp(0): 10, tp(1): 0}, now=0.0)
    consumer = FakeConsumer(committed={tp(0): 10}, earliest={tp(0): 0})
    consumer._gap.update({tp(0): "11..40", tp(1): "3..5"})
    asyncio.run(rewind(consumer, guard, tp(0), "records missing"))
    assert consumer._gap == {tp(1): "3..5"}


def test_rewind_of_an_unknown_partition_does_nothing() -> None:
    consumer = FakeConsumer(committed={}, earliest={})
    asyncio.run(rewind(consumer, OffsetGuard(), tp(0), "records missing"))
    assert consumer.seeks == []
