"""`alerts.repository.append_events` on real PostgreSQL: events appended to an existing alert in
the order given, with the alert's view in their payload, a NOTIFY for the live feed, replays
skipped, and an unknown alert refused with nothing written."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from alerts.episodes import AlertEvent, EventKind
from alerts.repository import EVENTS_CHANNEL, append_events
from tests.integration.rest_world import seed, utc_now

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]


def _updates(alert_id: str, patient_id: str, n: int) -> list[AlertEvent]:
    return [
        AlertEvent(uuid.uuid4(), uuid.UUID(alert_id), patient_id, EventKind.UPDATED, utc_now(),
                   {"n": i})
        for i in range(n)
    ]  # fmt: skip


async def _events(conn: psycopg.AsyncConnection[Any], alert_id: str) -> list[tuple[Any, ...]]:
    cur = await conn.execute(
        "SELECT e.seq, e.event_id, e.kind, e.actor, e.tier = a.tier, e.payload"
        "  FROM alert_events e JOIN alerts a ON a.id = e.alert_id"
        " WHERE e.alert_id = %s ORDER BY e.seq",
        (alert_id,),
    )
    return await cur.fetchall()


async def test_events_are_appended_in_order_with_the_view_and_a_notify(dsn: str, tag: str) -> None:
    team = (await seed(dsn, tag)).teams[0]
    updates = _updates(team.alert_id, team.patients[0], 5)
    async with (
        AsyncConnectionPool(dsn, min_size=1, max_size=2, open=False) as pool,
        await psycopg.AsyncConnection.connect(dsn, autocommit=True) as listener,
    ):
        before = await _events(listener, team.alert_id)
        await listener.execute(f"LISTEN {EVENTS_CHANNEL}")
        await append_events(pool, updates, actor="bench")
        notified = await anext(listener.notifies(timeout=10))
        await append_events(pool, updates[:2])  # a replay: known ids, nothing new
        after = await _events(listener, team.alert_id)
    assert notified.channel == EVENTS_CHANNEL
    added = after[len(before) :]
    assert [row[1] for row in added] == [u.event_id for u in updates]  # in the order given
    for i, (_, _, kind, actor, same_tier, payload) in enumerate(added):
        assert (kind, actor, same_tier) == ("updated", "bench", True)
        assert payload["n"] == i and payload["id"] == team.alert_id
        assert payload["actor"] == "bench" and payload["status"] == "open"


async def test_an_unknown_alert_is_refused_and_nothing_is_written(dsn: str, tag: str) -> None:
    team = (await seed(dsn, tag)).teams[0]
    mine = _updates(team.alert_id, team.patients[0], 1)
    ghost = _updates(str(uuid.uuid4()), team.patients[0], 1)
    async with AsyncConnectionPool(dsn, min_size=1, max_size=1, open=False) as pool:
        with pytest.raises(LookupError, match="no such alerts"):
            await append_events(pool, mine + ghost)
        async with pool.connection() as conn:
            rows = await _events(conn, team.alert_id)
    assert mine[0].event_id not in {row[1] for row in rows}  # the transaction rolled back whole
