"""The live alert feed: alert events from PostgreSQL, fanned out to websocket subscribers.

`alert_events.seq` is the feed's sequence number. Writers assign it in commit order (see
alerts._sql), so "everything after seq N" is a complete answer at any moment. The feed LISTENs on
`vigil_alert_events`, reads what is new in seq order and offers each event to the subscribers
whose scope allows it: the patient's care team is one of theirs and the alert's tier after the
event (`alert_events.tier`) is one their role watches (`ROLE_TIERS`). The backlog query applies
the same scope in SQL.

Each event is serialised to JSON text once, here; every subscriber is handed the same string.
Each subscriber has a bounded queue. One that falls behind by more than its bound is cut off
(it ends `TOO_SLOW`), never allowed to stall the feed or the others; it reconnects with its last seq
and catches up from the database, so being cut off loses nothing.

Must not: decide who a principal is (api.auth) or talk to the socket (api.ws).
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from alerts.repository import EVENTS_CHANNEL
from ingest.pg_listen import listen

# Which alert tiers each role watches on the feed; a role not here (patient, device) has no feed.
ROLE_TIERS: dict[str, frozenset[int]] = {
    "nurse": frozenset({2, 3}),
    "doctor": frozenset({3}),
    "admin": frozenset({1, 2, 3}),
}

_EVENTS_AFTER = """
    SELECT e.seq, e.event_id, e.alert_id, e.patient_id, e.kind, e.at, e.payload, e.tier,
           p.team_id
      FROM alert_events e JOIN patients p ON p.id = e.patient_id
     WHERE e.seq > %(after)s {scope}
     ORDER BY e.seq
     LIMIT %(limit)s
"""
_SCOPED = "AND p.team_id = ANY(%(teams)s) AND e.tier = ANY(%(tiers)s)"
LIVE_PAGE = 1000


@dataclass(frozen=True, slots=True)
class Scope:
    """What one subscriber may see: these teams' patients, alerts at these tiers."""

    team_ids: frozenset[str]
    tiers: frozenset[int]

    @classmethod
    def of_role(cls, role: str, team_ids: frozenset[str]) -> Scope | None:
        tiers = ROLE_TIERS.get(role)
        return None if tiers is None else cls(team_ids, tiers)

    def sees(self, team_id: str, tier: int) -> bool:
        return team_id in self.team_ids and tier in self.tiers


@dataclass(frozen=True, slots=True)
class FeedEvent:
    seq: int
    team_id: str
    tier: int
    text: str  # the whole `alert_event` frame, serialised once for every subscriber


def _event(row: dict[str, Any]) -> FeedEvent:
    at: datetime = row["at"]
    message = {
        **row["payload"],
        "type": "alert_event",
        "seq": row["seq"],
        "event_id": str(row["event_id"]),
        "alert_id": str(row["alert_id"]),
        "patient_id": row["patient_id"],
        "kind": row["kind"],
        "tier": row["tier"],
        "at": at.isoformat(),
    }
    return FeedEvent(row["seq"], row["team_id"], row["tier"], orjson.dumps(message).decode())


TOO_SLOW = "too_slow"
EXPIRED = "expired"
GONE = "gone"


@dataclass(eq=False, slots=True)
class Subscription:
    """One connection's outgoing frames (feed events and replies, bounded together) and why it
    ended: `TOO_SLOW` when the frames outgrew `limit`, `EXPIRED`, or `GONE` (the client left)."""

    scope: Scope
    limit: int
    frames: deque[tuple[int, str]] = field(default_factory=deque)  # (seq or 0 for a reply, text)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    reason: str | None = None

    def offer(self, event: FeedEvent) -> None:
        if self.reason is None and self.scope.sees(event.team_id, event.tier):
            self._put(event.seq, event.text)

    def reply(self, text: str) -> None:
        if self.reason is None:
            self._put(0, text)

    def end(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
            self.frames.clear()
            self.ended.set()

    def take(self) -> list[tuple[int, str]]:
        """Everything waiting, oldest first."""
        frames = list(self.frames)
        self.frames.clear()
        self.wake.clear()
        return frames

    def _put(self, seq: int, text: str) -> None:
        if len(self.frames) >= self.limit:
            self.end(TOO_SLOW)  # never stall the feed: the client resumes from the database
        else:
            self.frames.append((seq, text))
            self.wake.set()


class AlertFeed:
    def __init__(self, pool: AsyncConnectionPool, conninfo: str, *, queue_max: int = 1000) -> None:
        self._pool = pool
        self._conninfo = conninfo
        self._queue_max = queue_max
        self._subscribers: set[Subscription] = set()
        self._last_seq: int | None = None  # None until primed: nothing is pushed before that

    def subscribe(self, scope: Scope) -> Subscription:
        sub = Subscription(scope, self._queue_max)
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)

    async def backlog(self, scope: Scope, after: int, limit: int) -> list[FeedEvent]:
        """Events after `after` within `scope`, oldest first (for resuming clients)."""
        params = {"after": after, "teams": list(scope.team_ids), "tiers": list(scope.tiers),
                  "limit": limit}  # fmt: skip
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(_EVENTS_AFTER.format(scope=_SCOPED), params)
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
        """Follow the events table until cancelled. A lost database is retried (ingest.pg_listen);
        any other error propagates (api.app makes that loud): a feed spinning on a bug would
        strand clinicians as surely as a stopped one, and only quietly."""
        if self._last_seq is None:
            await self.prime()
        # A NOTIFY wakes us at once; the poll is a safety net, not the mechanism. A notification
        # says only "there is more": those read together cost one query (coalesce_s=0).
        await listen(self._conninfo, [EVENTS_CHANNEL], handle=self._wake,
                     catch_up=self._publish_new, timeout_s=lambda: poll_s,
                     coalesce_s=0.0)  # fmt: skip

    async def _wake(self, _: psycopg.Notify | None) -> None:
        await self._publish_new()

    async def _publish_new(self) -> None:
        while True:
            params = {"after": self._last_seq or 0, "limit": LIVE_PAGE}
            async with self._pool.connection() as conn:
                cur = conn.cursor(row_factory=dict_row)
                await cur.execute(_EVENTS_AFTER.format(scope=""), params)
                rows = await cur.fetchall()
            for row in rows:
                event = _event(row)
                self._last_seq = event.seq
                for sub in tuple(self._subscribers):
                    sub.offer(event)
            if len(rows) < LIVE_PAGE:
                return

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    @property
    def last_seq(self) -> int:
        return self._last_seq or 0
