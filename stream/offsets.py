"""Every record of the readings topic is processed, in offset order, by the Faust runner.

Faust can skip records without telling anyone. Around a rebalance it drops records it has
already fetched (it empties the stream queues when it resumes the flow) and relies on seeking
back to the committed offset; but aiokafka does not seek a partition whose committed offset is
missing or 0, and records queued between that seek and the resume are dropped as well. The
skipped records would then be processed only after the next restart, if ever: for a clinical
pipeline that is a silent hole. (Seen in the integration test that kills a worker; faust
0.15.3, aiokafka 0.14.)

So the agent keeps its own account. `OffsetGuard` knows, per partition, the next offset the
agent must process: the committed offset (or the first record, when nothing is committed) after
each assignment, then one past each record it admits. A record below it is a redelivery (acked
and skipped); a record above it means records went missing: it is dropped unacknowledged and the
partition is sought back (`rewind`). A partition whose records stopped arriving while the topic
has more is sought back too (`stalled`), which covers records dropped with nothing after them;
that check is skipped while the agent is busy with a batch (say, waiting out a database outage),
when no progress is expected.
Offsets on the readings topic are contiguous: it is neither compacted nor written in
transactions.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Hashable, Iterable, Mapping
from typing import Any

log = logging.getLogger(__name__)

REWIND_RETRY_S = 5.0  # a rewind that has not brought the expected record back is repeated
STALL_S = 5.0  # no progress for this long while the partition has more records: rewind


class Admit(enum.Enum):
    PROCESS = "process"
    REDELIVERED = "redelivered"
    MISSING_BEFORE = "missing_before"  # records between the expected offset and this one


class OffsetGuard:
    def __init__(self) -> None:
        self._assignment = 0  # counts starts and clears
        self._next: dict[Hashable, int] = {}
        self._progress_at: dict[Hashable, float] = {}
        self._rewound_at: dict[Hashable, float] = {}

    def start(self, positions: Mapping[Hashable, int], now: float) -> None:
        """A new assignment: processing resumes at these offsets."""
        self._assignment += 1
        self._next = dict(positions)
        self._progress_at = dict.fromkeys(positions, now)
        self._rewound_at = {}

    def clear(self) -> None:
        self._assignment += 1
        self._next, self._progress_at, self._rewound_at = {}, {}, {}

    def expected(self, tp: Hashable) -> int | None:
        return self._next.get(tp)

    def admit(self, tp: Hashable, offset: int, now: float) -> Admit:
        expected = self._next.get(tp)
        if expected is not None and offset < expected:
            return Admit.REDELIVERED
        if expected is not None and offset > expected:
            return Admit.MISSING_BEFORE
        self._next[tp] = offset + 1  # an unknown partition (no assignment seen) is taken as is
        self._progress_at[tp] = now
        self._rewound_at.pop(tp, None)
        return Admit.PROCESS

    def positions(self, tps: Iterable[Hashable]) -> tuple[int, dict[Hashable, int | None]]:
        """The expected offsets of `tps` now, to `restore` if the batch fails."""
        return self._assignment, {tp: self._next.get(tp) for tp in tps}

    def restore(self, saved: tuple[int, Mapping[Hashable, int | None]]) -> None:
        """Undo `admit` for a batch that failed: its records are expected again (unless the
        partitions were reassigned meanwhile: the new assignment's positions stand)."""
        assignment, positions = saved
        if assignment != self._assignment:
            return
        for tp, offset in positions.items():
            if offset is None:
                self._next.pop(tp, None)
            else:
                self._next[tp] = offset

    def touch(self, tps: Iterable[Hashable], now: float) -> None:
        """These partitions' records were just processed: progress, however long it took."""
        for tp in tps:
            if tp in self._progress_at:
                self._progress_at[tp] = now

    def rewind_due(self, tp: Hashable, now: float) -> bool:
        """Whether to seek `tp` back now: not if a seek is already on its way."""
        last = self._rewound_at.get(tp)
        if last is not None and now - last < REWIND_RETRY_S:
            return False
        self._rewound_at[tp] = now
        return True

    def restart_at(self, tp: Hashable, offset: int) -> None:
        """The records before `offset` no longer exist (retention): resume at `offset`."""
        self._next[tp] = offset

    def stalled(self, highwaters: Iterable[tuple[Hashable, int | None]], now: float,
                after_s: float) -> list[Hashable]:  # fmt: skip
        """Partitions with records beyond the expected offset but no progress for `after_s`."""
        return [
            tp
            for tp, highwater in highwaters
            if tp in self._next
            and highwater is not None
            and highwater > self._next[tp]
            and now - self._progress_at.get(tp, now) >= after_s
        ]


async def start_positions(consumer: Any, topic: str) -> dict[Any, int]:
    """Where the assigned partitions of `topic` resume: the committed offset, or the first
    record when nothing (or 0) is committed, or when the commit lies past the end of the log
    (every record would otherwise look like a redelivery and be skipped); those partitions are
    sought there explicitly, because aiokafka leaves them wherever the fetcher happens to be."""
    tps = {tp for tp in consumer.assignment() if tp.topic == topic}
    if not tps:
        return {}
    committed = await consumer.seek_to_committed()
    positions = {tp: committed[tp] for tp in tps if committed.get(tp)}
    ends = await consumer.highwaters(*positions) if positions else {}
    for tp, offset in list(positions.items()):
        if offset > ends[tp]:  # the topic was re-created or truncated under the group
            log.error("%s: committed offset %d is past the end of the log (%d); reading the "
                      "partition from its first record", tp, offset, ends[tp])  # fmt: skip
            del positions[tp]
    bare = [tp for tp in tps if tp not in positions]
    if bare:
        earliest = await consumer.earliest_offsets(*bare)
        for tp in bare:
            positions[tp] = earliest[tp]
            await consumer.seek(tp, earliest[tp])
    return positions


async def rewind(consumer: Any, guard: OffsetGuard, tp: Any, why: str) -> None:
    """Seek `tp` back to the record the agent expects next (or to the first record still
    there, when retention has deleted the expected one: that loss is logged as an error)."""
    expected = guard.expected(tp)
    if expected is None:
        return
    first = (await consumer.earliest_offsets(tp))[tp]
    if first > expected:
        log.error(
            "%s: records %d..%d were deleted by retention before they were processed",
            tp, expected, first - 1,
        )  # fmt: skip
        guard.restart_at(tp, first)
        expected = first
    log.warning("%s: %s; reading it again from offset %d", tp, why, expected)
    # Records faust had already fetched past `expected` may still be delivered after the seek:
    # faust then notes the jump as a "gap" and would count it as acknowledged once offsets
    # around it are, i.e. commit past records not yet processed. Gaps exist only for compacted
    # or transactional topics, which the readings topic is not: forget them at every rewind
    # (a rewind that such late records defeated is repeated, see `rewind_due`).
    gaps = getattr(consumer, "_gap", None)  # faust's private bookkeeping; no public accessor
    if gaps is not None and tp in gaps:
        del gaps[tp]
    await consumer.seek(tp, expected)
