"""The live alert feed: alert events from PostgreSQL, fanned out to websocket subscribers.

`alert_events.seq` is the feed's sequence number. Writers assign it in commit order (see
alerts.repository), so "everything after seq N" is a complete answer at any moment. The feed
LISTENs on `vigil_alert_events`, reads what is new in seq order and offers each event to the
subscribers allowed to see it (their care teams include the patient's team).

Each subscriber has a bounded queue. One that falls behind by more than its bound is cut off
(`overflowed`), never allowed to stall the feed or the others; it reconnects with its last seq
and catches up from the database, so being cut off loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from alerts.repository import EVENTS_CHANNEL

log = logging.getLogger(__name__)

_EVENTS_AFTER = """
    SELECT e.seq, e.event_id, e.alert_id, e.patient_id, e.kind, e.at, e.payload, p.team_id
      FROM alert_events e JOIN patients p ON p.id = e.patient_id
     WHERE e.seq > %(after)s {scope}
     ORDER BY e.seq
     LIMIT %(limit)s
"""


@dataclass(frozen=True, slots=True)
class FeedEvent:
    seq: int
    team_id: str
    message: dict[str, Any]


def _event(row: dict[str, Any]) -> FeedEvent:
    at: datetime = row["at"]
    message = {
        **row["payload"],
        "type": "alert_event",
        "seq": row["seq"],
        "event_id": str(row["event_id"]),
        "alert_id": str(row["alert_id"]),
        "kind": row["kind"],
        "at": at.isoformat(),
    }
    return FeedEvent(row["seq"], row["team_id"], message)


@dataclass(eq=False, slots=True)
class Subscription:
    team_ids: frozenset[str]
    queue: asyncio.Queue[FeedEvent]
    overflowed: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, event: FeedEvent) -> None:
        if event.team_id not in self.team_ids or self.overflowed.is_set():
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed.set()


class AlertFeed:
    def __init__(self, pool: AsyncConnectionPool, conninfo: str, *, queue_max: int = 1000) -> None:
        self._pool = pool
        self._conninfo = conninfo
        self._queue_max = queue_max
        self._subscribers: set[Subscription] = set()
        self._last_seq: int | None = None  # None until primed: nothing is pushed before that

    def subscribe(self, team_ids: frozenset[str]) -> Subscription:
        sub = Subscription(team_ids, asyncio.Queue(maxsize=self._queue_max))
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)

    async def backlog(self, team_ids: frozenset[str], after: int, limit: int) -> list[FeedEvent]:
        """Events after `after` visible to these teams, oldest first (for resuming clients)."""
        query = _EVENTS_AFTER.format(scope="AND p.team_id = ANY(%(teams)s)")
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(query, {"after": after, "teams": list(team_ids), "limit": limit})
            return [_event(row) for row in await cur.fetchall()]

    async def prime(self) -> None:
        """Start the live feed at the current end of the events table. Called before the API
        accepts connections: a client's backlog query then always ends at or after this point,
        and everything later reaches it live (nothing falls in between)."""
        async with self._pool.connection() as conn:
            cur = await conn.execute("SELECT COALESCE(max(seq), 0) FROM alert_events")
            row = await cur.fetchone()
        self._last_seq = int(row[0]) if row else 0

    async def run(self, poll_s: float = 1.0) -> None:
        """Follow the events table until cancelled; reconnects if the database goes away.
        Any failure is logged and retried: a feed that stopped silently would strand clinicians."""
        if self._last_seq is None:
            await self.prime()
        while True:
            try:
                await self._follow(poll_s)
            except Exception as exc:
                log.error("alert feed interrupted (%s); resuming in 2 s", type(exc).__name__)
                await asyncio.sleep(2)

    async def _follow(self, poll_s: float) -> None:
        async with await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True) as conn:
            await conn.execute(f"LISTEN {EVENTS_CHANNEL}")
            while True:
                await self._publish_new(conn)
                # A NOTIFY wakes us at once; the poll is a safety net, not the mechanism.
                async for _ in conn.notifies(timeout=poll_s, stop_after=1):
                    pass

    async def _publish_new(self, conn: psycopg.AsyncConnection[Any]) -> None:
        while True:
            cur = conn.cursor(row_factory=dict_row)
            after = self._last_seq or 0
            await cur.execute(_EVENTS_AFTER.format(scope=""), {"after": after, "limit": 1000})
            rows = await cur.fetchall()
            for row in rows:
                event = _event(row)
                self._last_seq = event.seq
                for sub in tuple(self._subscribers):
                    sub.offer(event)
            if len(rows) < 1000:
                return

    @property
    def last_seq(self) -> int:
        return self._last_seq or 0
