"""A chart's readings, bucketed in the database: per series and bucket, the count, the minimum
and maximum and when each was measured (`lo`, `hi`: [value, epoch seconds], the time negated in
`hi`) (`api.workspace.chart_core.points` turns them into at
most two points). Buckets are `time_bucket` in TimescaleDB mode and `date_bin` on plain
PostgreSQL, from the origin api.queries.readings uses, so both modes answer the same.

Glucose is split by the kind of device that measured it (`devices.kind`): a CGM trace, meter
points. Must not: choose the window or the bucket width (chart_core does), or check access.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from api.queries.readings import BUCKET_ORIGIN

_WIDTH = "make_interval(secs => %(bucket_s)s)"
_BUCKET = {
    "timescaledb": f"time_bucket({_WIDTH}, r.time, %(origin)s::timestamptz)",
    "plain": f"date_bin({_WIDTH}, r.time, %(origin)s::timestamptz)",
}
# whether the reading comes from a continuous monitor (its own series): CGM, not a meter
_CONTINUOUS = {True: "COALESCE(d.kind = 'cgm', false)", False: "false"}
_JOIN = {True: "LEFT JOIN devices d ON d.id = r.device_id", False: ""}

# min over (value, time) pairs: the minimum and, among equal minima, its earliest time; max over
# (value, -time): the maximum and its earliest time. One pass, hash-grouped: no sort of the rows.
_BUCKETS = """
    SELECT r.metric, {continuous} AS continuous, {bucket} AS bucket, count(*) AS n,
           min(ARRAY[r.value, date_part('epoch', r.time)]) AS lo,
           max(ARRAY[r.value, -date_part('epoch', r.time)]) AS hi
      FROM readings r {join}
     WHERE r.patient_id = %(patient)s AND r.metric = ANY(%(metrics)s)
       AND r.time >= %(since)s AND r.time < %(until)s
     GROUP BY 1, 2, 3
     ORDER BY 1, 2, 3
"""


async def buckets(
    conn: AsyncConnection[Any],
    mode: str,
    patient_id: str,
    metrics: list[str],
    *,
    by_device: bool,
    since: datetime,
    until: datetime,
    bucket_s: int,
) -> list[dict[str, Any]]:
    sql = _BUCKETS.format(
        continuous=_CONTINUOUS[by_device], bucket=_BUCKET[mode], join=_JOIN[by_device]
    )
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        sql,
        {"patient": patient_id, "metrics": metrics, "since": since, "until": until,
         "bucket_s": bucket_s, "origin": BUCKET_ORIGIN},
    )  # fmt: skip
    return await cur.fetchall()
