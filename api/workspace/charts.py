"""A patient's chart data (issue 10, part 4): the series of one chart over a named range, a
window around an alert, or explicit times; bucketed in the database and reduced to each
bucket's minimum and maximum so no series exceeds `chart_core.MAX_POINTS`; with the thresholds
in effect (patient overrides applied) and the target bands.

Must not: hold SQL (api.queries.*) or render.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from psycopg_pool import AsyncConnectionPool

from alerts.actions import AlertNotFoundError
from api.auth import Principal
from api.errors import InvalidRequestError
from api.queries import alerts as alert_q
from api.queries import audit, charts, thresholds
from api.queries.readings import storage_mode
from api.routes._common import visible_patient
from api.workspace import chart_core as core
from api.workspace.models import Chart, ChartSeries, ChartTarget, ChartThreshold
from ingest.contract import METRICS


@dataclass(frozen=True, slots=True)
class ChartRequest:
    chart: str | None = None  # a key of chart_core.CHARTS; default: the alert's metric's chart
    range: str | None = "24h"  # a key of chart_core.RANGES
    around: uuid.UUID | None = None  # an alert of this patient
    since: datetime | None = None
    until: datetime | None = None


def _series(spec: core.ChartSpec, rows: list[dict[str, Any]]) -> list[ChartSeries]:
    grouped: dict[tuple[str, str], list[core.BucketRow]] = defaultdict(list)
    for r in rows:  # ordered by metric, kind, bucket: each series' buckets stay in time order
        key = core.series_key(spec, r["metric"], r["continuous"])
        grouped[key, r["metric"]].append(
            core.BucketRow(r["n"], r["lo"][0], r["lo"][1], r["hi"][0], -r["hi"][1])
        )
    out = []
    order = {m: i for i, m in enumerate(spec.metrics)}  # systolic before diastolic; CGM first
    for (key, metric), buckets in sorted(
        grouped.items(), key=lambda kv: (order[kv[0][1]], kv[0][0] != "cgm")
    ):
        t, v, dropped = core.points(buckets)
        unit = METRICS[metric].canonical_unit
        out.append(ChartSeries(key=key, metric=metric, unit=unit, t=t, v=v, downsampled=dropped))
    return out


def _explicit(req: ChartRequest, now: datetime) -> tuple[datetime, datetime]:
    if req.since is not None or req.until is not None:
        until = req.until or now
        since = req.since or until - core.RANGES[req.range or "24h"]
        if not since < until or until - since > core.MAX_WINDOW:
            raise InvalidRequestError("since must be before until, at most a year apart")
        return since, until
    if req.range not in core.RANGES:
        raise InvalidRequestError(f"range: one of {sorted(core.RANGES)}")
    return core.window(req.range, now)


async def _one(conn: Any, patient_id: str, req: ChartRequest, now: datetime
               ) -> tuple[Chart, dict[str, Any]]:  # fmt: skip
    """The chart (the caller has checked the patient) and what its audit row says."""
    key = req.chart
    if req.around is not None:
        alert = await alert_q.get(conn, req.around)
        if alert is None or alert["patient_id"] != patient_id:
            raise AlertNotFoundError(f"no alert {req.around}")
        since, until = core.alert_window(alert["opened_at"], alert["last_seen_at"],
                                         alert["resolved_at"], now)  # fmt: skip
        of_metric = core.CHART_OF_METRIC.get(alert["metric"])
        key = key or (of_metric.key if of_metric else None)
    else:
        since, until = _explicit(req, now)
    if key not in core.CHARTS:
        raise InvalidRequestError(f"chart: one of {sorted(core.CHARTS)}")
    spec = core.CHARTS[key]
    mode = await storage_mode(conn)
    bucket_s = core.bucket_width_s(since, until)
    rows = await charts.buckets(conn, mode, patient_id, list(spec.metrics),
                                by_device=spec.split_by_device, since=since, until=until,
                                bucket_s=bucket_s)  # fmt: skip
    lines = core.thresholds_in_effect(spec, patient_id, await thresholds.versions(conn, patient_id))
    found = Chart(
        patient_id=patient_id, chart=key, since=since, until=until, bucket_s=bucket_s,
        max_points=core.MAX_POINTS, storage_mode=mode, series=_series(spec, rows),
        thresholds=[ChartThreshold(**asdict(line)) for line in lines],
        targets=[ChartTarget(**asdict(t)) for t in spec.targets], alert_id=req.around,
    )  # fmt: skip
    return found, {"chart": key, "since": since.isoformat(), "until": until.isoformat()}


async def chart(
    pool: AsyncConnectionPool, caller: Principal, patient_id: str, req: ChartRequest,
    now: datetime,
) -> Chart:  # fmt: skip
    return (await many(pool, caller, patient_id, [req], now))[0]


async def many(
    pool: AsyncConnectionPool, caller: Principal, patient_id: str, reqs: list[ChartRequest],
    now: datetime,
) -> list[Chart]:  # fmt: skip
    """Several charts of one patient (a page's), read and audited together."""
    async with pool.connection() as conn, conn.transaction():
        await visible_patient(conn, caller, patient_id)
        done = [await _one(conn, patient_id, req, now) for req in reqs]
        await audit.record(conn, caller, now, "read", "chart", [patient_id],
                           {"charts": [detail for _, detail in done]})  # fmt: skip
    return [found for found, _ in done]
