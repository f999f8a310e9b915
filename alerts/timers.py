"""Escalation timers: arm the persisted deadlines and fire them when they pass.

Deadlines live in the database (`alerts.deadline` with its `fence`), so they survive restarts.
This process keeps a heap of the ones due soon. It learns of new ones from NOTIFY
`vigil_deadlines`, which PostgreSQL delivers only after the transition's transaction commits:
a timer is never armed for a transition that rolled back. A sweep at start and every `sweep_s`
catches anything missed (a restart, a dropped connection) and fires what is overdue.

Firing goes through `PgResponse.fire(alert, fence)`, which re-checks the fence under the row
lock: a timer armed before a later transition, a second timer process, or the same deadline
armed twice moves the alert at most once. Tests drive `sweep` and `fire_due` with a fake clock.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg

from alerts._sql import DEADLINES_CHANNEL
from alerts.response import PgResponse

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

    def _wait_s(self, now: datetime, next_sweep: datetime) -> float:
        until = min(self._heap[0][0], next_sweep) if self._heap else next_sweep
        return max(0.0, (until - now).total_seconds())

    def _on_notify(self, payload: str) -> None:
        alert_id, fence, deadline = payload.split()
        self.arm(datetime.fromtimestamp(float(deadline), UTC), uuid.UUID(alert_id), int(fence))

    async def run(self) -> None:
        """Until cancelled; a lost database connection is logged and retried (a timer loop that
        died quietly would leave alerts unescalated)."""
        while True:
            try:
                await self._follow()
            except Exception as exc:
                log.error("escalation timers interrupted (%s); resuming in 2 s", exc)
                await asyncio.sleep(2)

    async def _follow(self) -> None:
        async with await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True) as conn:
            await conn.execute(f"LISTEN {DEADLINES_CHANNEL}")
            next_sweep = self._clock()
            while True:
                now = self._clock()
                if now >= next_sweep:
                    await self.sweep(now)
                    next_sweep = now + self._sweep
                await self.fire_due(now)
                timeout = self._wait_s(self._clock(), next_sweep)
                async for note in conn.notifies(timeout=timeout, stop_after=1):
                    self._on_notify(note.payload)
