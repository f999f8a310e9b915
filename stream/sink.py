"""The readings sink: batched, idempotent writes into `readings` (DESIGN 7).

A redelivered reading is stored once; the returned count says how many were new. Never one
INSERT per message. Nearly every batch is all new, so the rows are first COPied straight into
`readings` inside a savepoint. If any of them is there already (a redelivery: the unique key
refuses the COPY), the savepoint is rolled back and the rows take the idempotent path: COPY into
a session-temporary staging table, then `INSERT INTO readings SELECT ... ON CONFLICT DO
NOTHING`. The direct COPY skips that second pass over the rows, which took about half of the
database's time per batch (`vigil bench ingest`). The COPY is binary with declared types: about
four times cheaper per row than text COPY (measured: 1.7 against 7 us per row on the 2-core
development machine), and rows are the sink's hot path.

The sink owns `writers` dedicated connections (each with its staging table, which lives as long
as the connection). A batch of at least 2 x 500 rows is split over them by device (so two
parts never hold the same key and cannot wait on each other) and written at once, one
transaction each: PostgreSQL then works on two cores while the ingest decodes. The batch
is durable when every part has committed; if one part fails, the whole batch fails and the
caller retries it, and the parts already stored take the idempotent path. The next write
after a connection error reconnects.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
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
_MIN_PART_ROWS = 500  # smaller batches are written on one connection

_MOVE = (
    f"INSERT INTO readings ({_COLUMNS}) SELECT {_COLUMNS} FROM readings_stage"
    " ON CONFLICT DO NOTHING"
)


class PgReadingStore:
    def __init__(self, conninfo: str, writers: int = 2) -> None:
        self._conninfo = conninfo
        self._conns: list[psycopg.AsyncConnection | None] = [None] * writers
        self.direct_batches = 0  # parts stored by the direct COPY
        self.deduplicated_batches = 0  # parts with a reading stored already: through staging

    async def _connection(self, i: int) -> psycopg.AsyncConnection:
        conn = self._conns[i]
        if conn is None or conn.closed or conn.broken:
            conn = await psycopg.AsyncConnection.connect(self._conninfo)
            await conn.execute(_STAGE)
            await conn.commit()
            self._conns[i] = conn
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
        parts = min(len(self._conns), max(1, len(rows) // _MIN_PART_ROWS))
        if parts == 1:
            return await self._write_part(0, rows)
        split: list[list[tuple[Any, ...]]] = [[] for _ in range(parts)]
        for row in rows:  # by device: a reading and its redelivery always go to the same part
            split[zlib.crc32(row[1].encode()) % parts].append(row)
        stored = await asyncio.gather(
            *(self._write_part(i, part) for i, part in enumerate(split) if part),
            return_exceptions=True,  # every part finishes before a retry may use its connection
        )
        for outcome in stored:
            if isinstance(outcome, BaseException):
                raise outcome
        return sum(n for n in stored if isinstance(n, int))

    async def _write_part(self, i: int, rows: list[tuple[Any, ...]]) -> int:
        conn = await self._connection(i)
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
        for conn in self._conns:
            if conn is not None:
                await conn.close()


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
