"""A patient's readings (newest first, in pages) and trend buckets per metric. Both are PHI
reads: each writes an audit row in the same transaction."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime

from api import cursors
from api.access import PHI_READERS, Caller, Pool, allow
from api.errors import InvalidRequestError
from api.queries import audit
from api.queries import readings as q
from api.routes._common import now, visible_patient
from api.schemas import Reading, ReadingPage, TrendBucket, Trends
from ingest.contract import METRICS

router = APIRouter(tags=["readings"])

MAX_BUCKETS = 5000
DEFAULT_TREND_WINDOW = timedelta(days=7)
_CURSOR = (datetime, str, int, str)


def _metric(metric: str | None) -> str | None:
    if metric is not None and metric not in METRICS:
        raise InvalidRequestError(f"metric: one of {sorted(METRICS)}")
    return metric


def _window(
    request: Request, since: datetime | None, until: datetime | None
) -> tuple[datetime, datetime]:
    try:
        until = until or now(request)
        since = since or until - DEFAULT_TREND_WINDOW
    except OverflowError:
        raise InvalidRequestError("until: too early for the default window") from None
    if since >= until:
        raise InvalidRequestError("since must be before until")
    return since, until


@router.get("/patients/{patient_id}/readings", response_model=ReadingPage)
async def list_readings(
    request: Request,
    patient_id: str,
    caller: Caller,
    pool: Pool,
    metric: Annotated[str | None, Query(description="one of the canonical metrics")] = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ReadingPage:
    allow(caller, PHI_READERS)
    after = cursors.decode(cursor, _CURSOR) if cursor is not None else None
    async with pool.connection() as conn, conn.transaction():
        await visible_patient(conn, caller, patient_id)
        rows = await q.page(conn, patient_id, metric=_metric(metric), since=since,
                            until=until, after=after, limit=limit + 1)  # fmt: skip
        await audit.record(conn, caller, now(request), "read", "readings", [patient_id],
                           {"metric": _metric(metric), "count": min(len(rows), limit)})  # fmt: skip
    more = len(rows) > limit
    items = [Reading.model_validate(r) for r in rows[:limit]]
    last = items[-1] if more else None
    next_cursor = cursors.encode(last.time, last.device_id, last.seq, last.metric) if last else None
    return ReadingPage(items=items, next_cursor=next_cursor)


@router.get("/patients/{patient_id}/trends", response_model=Trends)
async def trends(
    request: Request,
    patient_id: str,
    caller: Caller,
    pool: Pool,
    metric: Annotated[str | None, Query(description="one of the canonical metrics")] = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    bucket_s: Annotated[int, Query(ge=60, le=31 * 86400)] = 3600,
) -> Trends:
    allow(caller, PHI_READERS)
    since, until = _window(request, since, until)
    if (until - since).total_seconds() / bucket_s > MAX_BUCKETS:
        raise InvalidRequestError(f"at most {MAX_BUCKETS} buckets per metric; widen bucket_s")
    async with pool.connection() as conn, conn.transaction():
        await visible_patient(conn, caller, patient_id)
        mode = await q.storage_mode(conn)
        rows = await q.trends(conn, patient_id, mode, metric=_metric(metric),
                              since=since, until=until, bucket_s=bucket_s)  # fmt: skip
        await audit.record(conn, caller, now(request), "read", "trends", [patient_id],
                           {"metric": _metric(metric), "bucket_s": bucket_s})  # fmt: skip
    buckets = [TrendBucket.model_validate(r) for r in rows]
    return Trends(patient_id=patient_id, bucket_s=bucket_s, storage_mode=mode, buckets=buckets)
