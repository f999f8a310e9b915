"""PostgreSQL adapters of the ingest: device bindings, rejected readings, technical alarms.

All SQL of the ingest lives here (CONVENTIONS 10). Connections come from a psycopg async pool
owned by the composition root. Writes are batched: one COPY per batch of rejections. A
technical alert is raised on a connection of its own (`PgTechnicalAlarms`) or, by a writer that
raises one together with its own writes, in the caller's transaction (`upsert_technical_alert`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from ingest.bindings import Binding, BindingIndex
from ingest.logs import loggable
from ingest.pg_listen import listen
from ingest.ports import RejectedRecord, TechnicalAlert

log = logging.getLogger(__name__)

BINDINGS_CHANNEL = "vigil_bindings"


async def load_bindings(pool: AsyncConnectionPool) -> BindingIndex:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT b.device_id, b.patient_id, b.valid_from, b.valid_to, d.kind,"
            " d.expected_cadence_s FROM device_bindings b JOIN devices d ON d.id = b.device_id"
        )
        return BindingIndex([Binding(*row) for row in await cur.fetchall()])


async def watch_bindings(
    pool: AsyncConnectionPool,
    conninfo: str,
    on_change: Callable[[BindingIndex], None],
    refresh_s: float,
) -> None:
    """Reload bindings on every change notification, and every `refresh_s` in any case."""

    async def reload() -> None:
        on_change(await load_bindings(pool))

    await watch(conninfo, BINDINGS_CHANNEL, reload, refresh_s)


async def watch(
    conninfo: str, channel: str, reload: Callable[[], Awaitable[None]], refresh_s: float
) -> None:
    """Call `reload` now, on every NOTIFY on `channel` and every `refresh_s`; until cancelled.

    A notification only says "something changed": the whole (small) table is reloaded, and a
    burst of notifications is coalesced into one reload. A reconnect reloads too (catch-up).
    """

    async def changed(note: psycopg.Notify | None) -> None:
        await reload()
        if note is not None:
            log.info("reloaded after a change on %s", channel)

    await listen(conninfo, [channel], handle=changed, catch_up=reload,
                 timeout_s=lambda: refresh_s, coalesce_s=0.2)  # fmt: skip


async def purge_rejected(pool: AsyncConnectionPool, before: datetime, batch: int = 10_000) -> int:
    """Delete refusals received before `before` (the retention), `batch` rows per transaction
    so that a large backlog never holds a long lock; return how many were deleted."""
    deleted = 0
    while True:
        async with pool.connection() as conn:
            cur = await conn.execute(
                "DELETE FROM rejected_readings WHERE id IN (SELECT id FROM rejected_readings"
                " WHERE received_at < %s ORDER BY received_at LIMIT %s)",
                (before, batch),
            )
        deleted += cur.rowcount
        if cur.rowcount < batch:
            return deleted


async def retain_rejected(
    pool: AsyncConnectionPool,
    *,
    keep_s: float,
    every_s: float,
    clock: Callable[[], datetime],
    retriable: tuple[type[BaseException], ...],
) -> None:
    """The retention of `rejected_readings`: every `every_s`, delete refusals older than
    `keep_s`; until cancelled. An unavailable database is logged and tried at the next round."""
    while True:
        try:
            deleted = await purge_rejected(pool, clock() - timedelta(seconds=keep_s))
        except retriable as exc:
            log.warning("rejected readings retention skipped (%s)", type(exc).__name__)
        else:
            if deleted:
                log.info("retention: deleted %d rejected readings", deleted)
        await asyncio.sleep(every_s)


class PgRejectionStore:
    """Stores refusals once each: identical bytes refused for the same reason (a redelivery, a
    retried batch) do not add rows, so the table counts distinct refusals. The payload's
    SHA-256 is of the whole payload received, whether the row keeps it whole or an excerpt."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def store(self, records: Sequence[RejectedRecord]) -> None:
        if not records:
            return
        rows = [
            (r.received_at, r.topic, r.rejection.device_id, r.rejection.seq, r.rejection.metric,
             r.rejection.reason.value, r.rejection.detail, r.payload, r.payload_bytes,
             r.payload_sha256)
            for r in records
        ]  # fmt: skip
        async with self._pool.connection() as conn, conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO rejected_readings (received_at, topic, device_id, seq, metric, reason,"
                " detail, payload, payload_bytes, payload_sha256)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                rows,
            )


_HANDLED_THROUGH = """
WITH marks AS (SELECT * FROM unnest(%s::text[], %s::bigint[]) AS m (device_id, mark)),
handled AS (
    SELECT k.device_id, k.seq FROM reading_messages k JOIN marks m USING (device_id)
     WHERE k.seq > m.mark
    UNION
    SELECT r.device_id, r.seq FROM rejected_readings r JOIN marks m USING (device_id)
     WHERE r.seq > m.mark
),
runs AS (
    SELECT device_id, seq,
           seq - row_number() OVER (PARTITION BY device_id ORDER BY seq) AS run_start
      FROM handled
)
SELECT r.device_id, max(r.seq) FROM runs r JOIN marks m USING (device_id)
 WHERE r.run_start = m.mark GROUP BY r.device_id
"""


class PgHandledSeqs:
    """The database's truth about which seqs are handled: stored messages (`reading_messages`)
    and refusals with a seq (`rejected_readings`). The seqs past each mark are numbered in
    order; those whose seq minus their number equals the mark are the run that starts right
    after it, and its highest seq is how far the device is contiguous."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def handled_through(self, marks: Mapping[str, int]) -> dict[str, int]:
        if not marks:
            return {}
        devices = list(marks)
        async with self._pool.connection() as conn:
            cur = await conn.execute(_HANDLED_THROUGH, (devices, [marks[d] for d in devices]))
            return {device: int(seq) for device, seq in await cur.fetchall()}


class PgTechnicalAlarms:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    # Each method logs once its write is committed (the pool commits on leaving the block): a
    # log line saying "cleared" while the row is still open would mislead whoever reads both.

    async def clear_alarm(self, kind: str, subject: str, at: datetime) -> None:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "UPDATE technical_alerts SET status = 'resolved', resolved_at = %s"
                " WHERE kind = %s AND subject = %s AND status = 'open'",
                (at, kind, subject),
            )
        if cur.rowcount:  # say so only when an open alert was resolved
            log.info("technical alert %s for %s cleared", kind, loggable(kind, subject))

    async def raise_alarm(self, alert: TechnicalAlert) -> None:
        async with self._pool.connection() as conn:
            await upsert_technical_alert(conn, alert)
        subject = loggable(alert.kind, alert.subject)
        log.warning("technical alert %s for %s: %s", alert.kind, subject, alert.detail)


async def upsert_technical_alert(conn: psycopg.AsyncConnection[Any], alert: TechnicalAlert) -> None:
    """Open a technical alert, or count a repeat of the open one of its (kind, subject), in the
    caller's transaction (for writers that raise one together with their own writes)."""
    await conn.execute(
        """
        INSERT INTO technical_alerts (kind, subject, detail, opened_at, last_seen_at)
        VALUES (%(kind)s, %(subject)s, %(detail)s, %(at)s, %(at)s)
        ON CONFLICT (kind, subject) WHERE status = 'open' DO UPDATE
           SET count = technical_alerts.count + 1,
               detail = EXCLUDED.detail,
               last_seen_at = EXCLUDED.last_seen_at
        """,
        {"kind": alert.kind, "subject": alert.subject, "detail": alert.detail, "at": alert.at},
    )
