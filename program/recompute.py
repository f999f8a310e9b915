"""Keeping risk current as data arrives: a pass assesses a set of patients (program.risk over
program.risk_store's figures) and stores what changed; the loop runs a cheap pass every
`interval_s` over the patients with readings stored or alert events since the last pass, and a
full pass every `full_every_s` (windows slide and silence grows without any new data).

Passes are serialised across processes by a transaction-level advisory lock (a second runner
skips its turn). The incremental mark for readings overlaps the previous pass by `OVERLAP`, so a
sink transaction that started before the mark and committed after it is still seen.

Must not: decide tags or tiers itself, or run per-patient queries (everything is set-based).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from program import risk_store
from program.risk import assess, is_rise_to_high

log = logging.getLogger(__name__)

_LOCK = 0x5649_4749_5249  # advisory lock of risk passes
OVERLAP = timedelta(minutes=5)
PASS = "risk"


@dataclass(frozen=True, slots=True)
class PassResult:
    assessed: int
    changed: int
    reviews_opened: int


async def recompute(
    conn: AsyncConnection[Any], now: datetime, ids: Sequence[str] | None = None
) -> PassResult:
    """Assess `ids` (None: every patient) at `now`; store changes, open review tasks."""
    figures = await risk_store.figures(conn, now, ids)
    stored = await risk_store.current(conn, None if ids is None else list(figures))
    assessed = []
    for pid, f in figures.items():
        a = assess(f)
        before = stored.get(pid)
        changed = before is None or before.tier != a.tier or before.tags != tuple(a.tags)
        prior = before.tier if before else None
        assessed.append(risk_store.Change(pid, prior, a.tier, a.tags, dict(f), changed))
    await risk_store.save(conn, now, assessed)
    rises = [c for c in assessed if c.changed and is_rise_to_high(c.before, c.tier)]
    opened = await risk_store.open_reviews(conn, now, rises)
    return PassResult(len(figures), sum(c.changed for c in assessed), opened)


async def dirty(
    conn: AsyncConnection[Any], overlap: timedelta = OVERLAP
) -> tuple[list[str] | None, int]:
    """Patients with news since the last pass (None: no pass yet, so all) and the event mark.
    Readings are found by `stored_at` (the database's clock), events by `seq`."""
    cur = await conn.execute(
        "SELECT readings_after, events_after FROM risk_passes WHERE name = %s", (PASS,)
    )
    row = await cur.fetchone()
    top = await conn.execute("SELECT COALESCE(max(seq), 0) FROM alert_events")
    mark = int((await top.fetchone() or (0,))[0])
    if row is None:
        return None, mark
    cur = await conn.execute(
        "SELECT patient_id FROM readings WHERE stored_at > %(r)s"
        " UNION SELECT patient_id FROM alert_events WHERE seq > %(e)s AND seq <= %(m)s",
        {"r": row[0] - overlap, "e": row[1], "m": mark},
    )
    return [r[0] for r in await cur.fetchall()], mark


async def _mark(conn: AsyncConnection[Any], now: datetime, events_after: int) -> None:
    await conn.execute(
        "INSERT INTO risk_passes (name, readings_after, events_after, at)"
        " VALUES (%(n)s, now(), %(e)s, %(now)s) ON CONFLICT (name) DO UPDATE SET"
        " readings_after = EXCLUDED.readings_after, events_after = EXCLUDED.events_after,"
        " at = EXCLUDED.at",
        {"n": PASS, "now": now, "e": events_after},
    )


async def one_pass(
    pool: AsyncConnectionPool, now: datetime, full: bool, overlap: timedelta = OVERLAP
) -> PassResult | None:
    """One pass in its own transaction; None when another process holds the turn."""
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (_LOCK,))
        if not (await cur.fetchone() or (False,))[0]:
            return None
        ids, mark = await dirty(conn, overlap)
        if full or ids is None or ids:
            result = await recompute(conn, now, None if full else ids)
        else:
            result = PassResult(0, 0, 0)  # nothing new: no query over readings at all
        await _mark(conn, now, mark)
        return result


async def risk_loop(
    pool: AsyncConnectionPool,
    clock: Callable[[], datetime],
    interval_s: float,
    full_every_s: float,
    retriable: tuple[type[BaseException], ...] = (),
) -> None:
    """Run passes for ever: incremental every `interval_s`, full every `full_every_s`. A
    retriable database error skips a turn (logged); any other error ends the loop (and the
    process: risk that silently stops being computed is worse than a crash)."""
    last_full = float("-inf")
    while True:
        full = time.monotonic() - last_full >= full_every_s
        try:
            result = await one_pass(pool, clock(), full)
        except retriable as e:
            log.warning("risk pass skipped: %s (retrying in %.0f s)", type(e).__name__,
                        interval_s)  # fmt: skip
            result = None
        if full and result is not None:
            last_full = time.monotonic()
        if result is not None and result.changed:
            log.info("risk pass (%s): %d assessed, %d changed, %d reviews opened",
                     "full" if full else "new data", result.assessed, result.changed,
                     result.reviews_opened)  # fmt: skip
        await asyncio.sleep(interval_s)
