"""The readings sink: batched, idempotent writes into `readings` (DESIGN 7).

Each batch is one transaction: COPY the rows into a session-temporary staging table, then
`INSERT INTO readings SELECT ... ON CONFLICT DO NOTHING`, so a redelivered reading is stored once
and the returned count says how many were new. Never one INSERT per message. The COPY is binary
with declared types: about four times cheaper per row than text COPY (measured: 1.7 against
7 us per row on the 2-core development machine), and rows are the sink's hot path.

The sink owns one dedicated connection (a single writer; its staging table lives as long as the
connection). On a connection error the batch fails, the caller retries it, and the next write
reconnects.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from collections.abc import Set as AbstractSet

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
        conn = await self._connection()
        try:
            async with conn.transaction(), conn.cursor() as cur:
                copy_sql = f"COPY readings_stage ({_COLUMNS}) FROM STDIN (FORMAT BINARY)"
                async with cur.copy(copy_sql) as copy:
                    copy.set_types(_TYPES)
                    for bound in messages:
                        m, patient_id = bound.message, bound.patient_id
                        head = (m.measured_at, m.device_id, m.seq)
                        for x in m.measurements:
                            flag = bool(late) and (m.device_id, m.seq, x.metric) in late
                            await copy.write_row(
                                (*head, x.metric, patient_id, x.value, x.unit, x.orig_value,
                                 x.orig_unit, m.received_at, m.context, flag)
                            )  # fmt: skip
                await cur.execute(_MOVE)
                return cur.rowcount
        except psycopg.Error:
            await conn.close()  # the next attempt starts a fresh session (e.g. after a failover)
            raise

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
