"""Escalation timers: arm the persisted deadlines and fire them when they pass.

Deadlines live in the database (`alerts.deadline` with its `fence`), so they survive restarts.
This process keeps a heap of the ones due soon. It learns of new ones from NOTIFY
`vigil_deadlines`, which PostgreSQL delivers only after the transition's transaction commits:
a timer is never armed for a transition that rolled back. A sweep at start, after every
reconnect (ingest.pg_listen's catch-up) and every `sweep_s` catches anything missed (a restart, a
dropped connection) and fires what is overdue. A lost database is retried; any other error stops
the process (CONVENTIONS 9).

Firing goes through `PgResponse.fire(alert, fence)`, which re-checks the fence under the row
lock: a timer armed before a later transition, a second timer process, or the same deadline
armed twice moves the alert at most once. Tests drive `sweep` and `fire_due` with a fake clock.
"""

from __future__ import annotations

import heapq
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg

from alerts._sql import DEADLINES_CHANNEL
from alerts.response import PgResponse
from ingest.pg_listen import listen

log = logging.getLogger(__name__)


class DeadlineTimers:
    def __init__(
        self,
        response: PgResponse,
        conninfo: str,
        clock: Callable[[], datetime],
        *,
        sweep_s: float = 30.0,
    ) -> None:
        self._response = response
        self._conninfo = conninfo
        self._clock = clock
        self._sweep = timedelta(seconds=sweep_s)
        self._heap: list[tuple[datetime, uuid.UUID, int]] = []
        self._armed: set[tuple[uuid.UUID, int]] = set()
        self._next_sweep = clock()

    def arm(self, deadline: datetime, alert_id: uuid.UUID, fence: int) -> None:
        if (alert_id, fence) not in self._armed:
            self._armed.add((alert_id, fence))
            heapq.heappush(self._heap, (deadline, alert_id, fence))

    async def sweep(self, now: datetime) -> None:
        """Arm every deadline due before the next sweep (earlier ones included)."""
        for deadline, alert_id, fence in await self._response.pending(now + self._sweep):
            self.arm(deadline, alert_id, fence)

    async def fire_due(self, now: datetime) -> int:
        """Fire the armed timers whose deadline has passed; how many moved an alert."""
        moved = 0
        while self._heap and self._heap[0][0] <= now:
            _, alert_id, fence = heapq.heappop(self._heap)
            self._armed.discard((alert_id, fence))
            moved += await self._response.fire(alert_id, fence, now)
        return moved

    async def run(self) -> None:
        """Until cancelled. A lost database is retried (ingest.pg_listen); anything else stops
        the process loudly: a timer loop that died quietly, or spun on a bug, would leave alerts
        unescalated without anyone noticing."""
        await listen(self._conninfo, [DEADLINES_CHANNEL], handle=self._wake,
                     catch_up=self._catch_up, timeout_s=self._timeout)  # fmt: skip

    async def _catch_up(self) -> None:
        """After every (re)connect: sweep at once, for whatever was notified while away."""
        self._next_sweep = self._clock()
        await self._wake(None)

    async def _wake(self, note: psycopg.Notify | None) -> None:
        if note is not None:
            alert_id, fence, deadline = note.payload.split()
            self.arm(datetime.fromtimestamp(float(deadline), UTC), uuid.UUID(alert_id), int(fence))
        now = self._clock()
        if now >= self._next_sweep:
            await self.sweep(now)
            self._next_sweep = now + self._sweep
        await self.fire_due(now)

    def _timeout(self) -> float:
        """Until the earliest armed deadline or the next sweep, whichever comes first."""
        now = self._clock()
        until = min(self._heap[0][0], self._next_sweep) if self._heap else self._next_sweep
        return max(0.0, (until - now).total_seconds())
