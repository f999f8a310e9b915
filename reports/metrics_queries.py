"""The database's figures for the operators' metrics (reports.metrics): SQL only, no PHI out.

Every query groups by bounded columns (tier, severity, due, kind) and returns counts and ages;
none returns a patient, device or staff id, a value or a text. The open-alert and overdue counts
use the partial indexes on unresolved alerts (`alerts_open_by_status`, `alerts_deadline`); the
missed deadlines are counted incrementally over `alert_events` from the last seq seen, so a
scrape reads only what is new. The outbox backlog is `alerts.outbox.backlog`'s own query.

Must not: select identifiers or free text, or write anything.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

from alerts.outbox import backlog

_OPEN = """
SELECT tier, severity, count(*) FROM alerts WHERE status <> 'resolved' GROUP BY tier, severity
"""
_OVERDUE = """
SELECT tier, due, count(*) FROM alerts
 WHERE status <> 'resolved' AND deadline IS NOT NULL AND deadline < %s
 GROUP BY tier, due
"""
_MISSED = """
SELECT tier, count(*), max(seq) FROM alert_events
 WHERE seq > %s AND kind = 'deadline_passed'
 GROUP BY tier
"""
_LAST_SEQ = "SELECT coalesce(max(seq), 0) FROM alert_events"
_TECHNICAL = "SELECT kind, count(*) FROM technical_alerts WHERE status = 'open' GROUP BY kind"

Counts = dict[tuple[str, ...], int]


async def _grouped(conn: psycopg.AsyncConnection[Any], sql: str, *args: Any) -> Counts:
    cur = await conn.execute(sql, args)
    return {tuple(str(c) for c in row[:-1]): int(row[-1]) for row in await cur.fetchall()}


async def open_alerts(conn: psycopg.AsyncConnection[Any]) -> Counts:
    """(tier, severity) -> unresolved alerts."""
    return await _grouped(conn, _OPEN)


async def overdue_alerts(conn: psycopg.AsyncConnection[Any], now: datetime) -> Counts:
    """(tier, due) -> unresolved alerts whose deadline has passed at `now` and not yet fired."""
    return await _grouped(conn, _OVERDUE, now)


async def missed_since(
    conn: psycopg.AsyncConnection[Any], after_seq: int
) -> tuple[dict[str, int], int]:
    """Deadlines passed (`deadline_passed` events) after `after_seq`, by the tier the alert
    moved to, and the last seq looked at."""
    cur = await conn.execute(_MISSED, (after_seq,))
    rows = await cur.fetchall()
    last = await (await conn.execute(_LAST_SEQ)).fetchone()
    seen = max([after_seq, *(int(r[2]) for r in rows), int(last[0]) if last else 0])
    return {str(r[0]): int(r[1]) for r in rows}, seen


async def technical_alerts(conn: psycopg.AsyncConnection[Any]) -> dict[str, int]:
    """Open technical alerts (devices' and the pipeline's) by kind."""
    return {k[0]: n for k, n in (await _grouped(conn, _TECHNICAL)).items()}


async def outbox(
    conn: psycopg.AsyncConnection[Any], now: datetime
) -> tuple[int, int, float | None]:
    """Tier-1 messages unsent at `now`, those of them waiting for a bound device, and the age of
    the oldest in seconds (None: none unsent)."""
    b = await backlog(conn, now, 0.0)
    age = None if b.oldest is None else max(0.0, (now - b.oldest).total_seconds())
    return b.count, b.for_device, age
