"""A patient's readings, newest first with keyset pages, and trend buckets per metric.

Buckets are `time_bucket` in TimescaleDB mode and `date_bin` on plain PostgreSQL, both from the
same origin (a Monday), so the two modes answer the same buckets.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

BUCKET_ORIGIN = "2000-01-03T00:00:00+00:00"

_READINGS = """
    SELECT time, metric, value, unit, orig_value, orig_unit, device_id, seq, late
      FROM readings
     WHERE patient_id = %(patient)s
       AND (%(metric)s::text IS NULL OR metric = %(metric)s)
       AND (%(since)s::timestamptz IS NULL OR time >= %(since)s)
       AND (%(until)s::timestamptz IS NULL OR time < %(until)s)
       AND (%(ct)s::timestamptz IS NULL
            OR (time, device_id, seq, metric) < (%(ct)s, %(cd)s, %(cs)s, %(cm)s))
     ORDER BY time DESC, device_id DESC, seq DESC, metric DESC
     LIMIT %(limit)s
"""

_WIDTH = "make_interval(secs => %(bucket_s)s)"
_BUCKET = {
    "timescaledb": f"time_bucket({_WIDTH}, time, %(origin)s::timestamptz)",
    "plain": f"date_bin({_WIDTH}, time, %(origin)s::timestamptz)",
}

_TRENDS = """
    SELECT metric, {bucket} AS bucket, min(value) AS min, max(value) AS max,
           avg(value) AS mean, count(*) AS count
      FROM readings
     WHERE patient_id = %(patient)s AND time >= %(since)s AND time < %(until)s
       AND (%(metric)s::text IS NULL OR metric = %(metric)s)
     GROUP BY metric, bucket
     ORDER BY metric, bucket
"""


async def page(
    conn: AsyncConnection[Any],
    patient_id: str,
    *,
    metric: str | None,
    since: datetime | None,
    until: datetime | None,
    after: tuple[Any, ...] | None,
    limit: int,
) -> list[dict[str, Any]]:
    ct, cd, cs, cm = after or (None, None, None, None)
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        _READINGS,
        {"patient": patient_id, "metric": metric, "since": since, "until": until,
         "ct": ct, "cd": cd, "cs": cs, "cm": cm, "limit": limit},
    )  # fmt: skip
    return await cur.fetchall()


async def storage_mode(conn: AsyncConnection[Any]) -> str:
    cur = await conn.execute("SELECT value FROM vigil_meta WHERE key = 'storage_mode'")
    row = await cur.fetchone()
    return "timescaledb" if row is not None and row[0] == "timescaledb" else "plain"


async def trends(
    conn: AsyncConnection[Any],
    patient_id: str,
    mode: str,
    *,
    metric: str | None,
    since: datetime,
    until: datetime,
    bucket_s: int,
) -> list[dict[str, Any]]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        _TRENDS.format(bucket=_BUCKET[mode]),
        {"patient": patient_id, "metric": metric, "since": since, "until": until,
         "bucket_s": bucket_s, "origin": BUCKET_ORIGIN},
    )  # fmt: skip
    return await cur.fetchall()
