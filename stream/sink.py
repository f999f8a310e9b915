"""The readings sink: batched, idempotent writes into `readings` (DESIGN 7).

Each batch is one transaction, and a redelivered reading is stored once; the returned count
says how many were new. Never one INSERT per message. Nearly every batch is all new, so the
rows are first COPied straight into `readings` inside a savepoint. If any of them is there
already (a redelivery: the unique key refuses the COPY), the savepoint is rolled back and the
batch takes the idempotent path: COPY into a session-temporary staging table, then `INSERT INTO
readings SELECT ... ON CONFLICT DO NOTHING`. The direct COPY skips that second pass over the
rows, which took about half of the database's time per batch (`vigil bench ingest`). The COPY
is binary with declared types: about four times cheaper per row than text COPY (measured: 1.7
against 7 us per row on the 2-core development machine), and rows are the sink's hot path.

The sink owns one dedicated connection (a single writer; its staging table lives as long as the
connection). On a connection error the batch fails, the caller retries it, and the next write
reconnects.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from typing import Any

import psycopg

from ingest.bound import BoundMessage

log = logging.getLogger(__name__)

_COLUMNS = (
    "time, device_id, seq, metric, patient_id, value, unit, orig_value, orig_unit, received_at,"
    " context, late"
)
_TYPES = (
    "timestamptz", "text", "int8", "text", "text", "float8", "text", "float8", "text",
    "timestamptz", "jsonb", "bool",
)  # fmt: skip
_STAGE = "CREATE TEMP TABLE readings_stage (LIKE readings INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
_MOVE = (
    f"INSERT INTO readings ({_COLUMNS}) SELECT {_COLUMNS} FROM readings_stage"
    " ON CONFLICT DO NOTHING"
)


class PgReadingStore:
    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo
        self._conn: psycopg.AsyncConnection | None = None
        self.direct_batches = 0  # stored by the direct COPY
        self.deduplicated_batches = 0  # had a reading stored already: went through staging

    async def _connection(self) -> psycopg.AsyncConnection:
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            conn = await psycopg.AsyncConnection.connect(self._conninfo)
            await conn.execute(_STAGE)
            await conn.commit()
            self._conn = conn
        return conn

    async def write(
        self,
        messages: Sequence[BoundMessage],
        late: AbstractSet[tuple[str, int, str]] = frozenset(),
    ) -> int:
        """Store every reading of `messages`, flagging the `late` ones; return how many were new."""
        if not messages:
            return 0
        rows = _rows(messages, late)
        conn = await self._connection()
        try:
            async with conn.transaction(), conn.cursor() as cur:
                try:
                    async with conn.transaction():  # a savepoint
                        await _copy(cur, "readings", rows)
                    self.direct_batches += 1
                    return len(rows)
                except psycopg.errors.UniqueViolation:
                    self.deduplicated_batches += 1
                await _copy(cur, "readings_stage", rows)
                await cur.execute(_MOVE)
                return cur.rowcount
        except psycopg.Error:
            await conn.close()  # the next attempt starts a fresh session (e.g. after a failover)
            raise

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()


def _rows(
    messages: Sequence[BoundMessage], late: AbstractSet[tuple[str, int, str]]
) -> list[tuple[Any, ...]]:
    """One row per reading, in `_COLUMNS` order."""
    rows = []
    for bound in messages:
        m, patient_id = bound.message, bound.patient_id
        head = (m.measured_at, m.device_id, m.seq)
        for x in m.measurements:
            flag = bool(late) and (m.device_id, m.seq, x.metric) in late
            rows.append(
                (*head, x.metric, patient_id, x.value, x.unit, x.orig_value, x.orig_unit,
                 m.received_at, m.context, flag)
            )  # fmt: skip
    return rows


async def _copy(cur: psycopg.AsyncCursor[Any], table: str, rows: list[tuple[Any, ...]]) -> None:
    async with cur.copy(f"COPY {table} ({_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(_TYPES)
        for row in rows:
            await copy.write_row(row)
