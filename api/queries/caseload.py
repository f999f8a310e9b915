"""The caseload: a care team's patients with their last reading, latest value per metric, open
alerts, the worst open severity and the care program's risk tier and tags; searchable by name
or id, sortable, in pages.

The latest value of each metric is one index probe per (patient, metric) on
`readings_patient_metric_time`, so the cost grows with the teams' patients, not their readings.
Must not: decide who may see which team (the caller passes the teams) or write.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from api.queries.worklist import SEVERITY_ORDER

# sort key -> ORDER BY (ascending: the natural reading order of the column; "desc" reverses it)
SORTS = {
    "name": "display_name {dir}, id",
    "id": "id {dir}",
    "last_reading": "last_reading_at {dir} NULLS LAST, id",
    "open_alerts": "open_alerts {dir}, worst_rank NULLS LAST, id",
    "severity": "worst_rank {dir} NULLS LAST, open_alerts DESC, id",
    # high first; within a tier, the longest at it first (the care program's ranking)
    "risk": "risk_rank {dir}, risk_since ASC NULLS LAST, worst_rank NULLS LAST, id",
}
# what ascending means for each sort: the most urgent or most recent first by default
DEFAULT_DIRECTION = {"name": "asc", "id": "asc", "last_reading": "desc",
                     "open_alerts": "desc", "severity": "asc", "risk": "asc"}  # fmt: skip

_CASELOAD = """
    WITH mine AS (
        SELECT p.id, p.display_name, p.team_id, p.tz, p.responsible_doctor,
               r.tier AS risk_tier, COALESCE(r.tags, '{{}}') AS risk_tags,
               r.tier_since AS risk_since,
               CASE r.tier WHEN 'high' THEN 0 WHEN 'medium' THEN 1 WHEN 'low' THEN 2
                           ELSE 3 END AS risk_rank
          FROM patients p
          LEFT JOIN patient_risk r ON r.patient_id = p.id
         WHERE p.team_id = ANY(%(teams)s)
           AND (%(q)s::text IS NULL OR position(%(q)s IN lower(p.display_name)) > 0
                OR position(%(q)s IN lower(p.id)) > 0)
    ), open_alerts AS (
        SELECT a.patient_id, count(*) AS n,
               min(array_position(%(order)s::text[], a.severity)) AS rank
          FROM alerts a JOIN mine ON mine.id = a.patient_id
         WHERE a.status <> 'resolved'
         GROUP BY a.patient_id
    ), rows AS (
        SELECT mine.*, COALESCE(oa.n, 0) AS open_alerts, oa.rank AS worst_rank,
               lr.last_reading_at, COALESCE(lr.latest, '{{}}'::jsonb) AS latest
          FROM mine
          LEFT JOIN open_alerts oa ON oa.patient_id = mine.id
          LEFT JOIN LATERAL (
                SELECT max(l.time) AS last_reading_at,
                       jsonb_object_agg(l.metric, jsonb_build_object(
                           'value', l.value, 'unit', l.unit, 'at', l.time)) AS latest
                  FROM unnest(%(metrics)s::text[]) AS m(metric)
                 CROSS JOIN LATERAL (
                       SELECT r.metric, r.value, r.unit, r.time FROM readings r
                        WHERE r.patient_id = mine.id AND r.metric = m.metric
                        ORDER BY r.time DESC LIMIT 1) l
          ) lr ON true
    )
    SELECT rows.*, count(*) OVER () AS total FROM rows
     ORDER BY {order_by}
     LIMIT %(limit)s OFFSET %(offset)s
"""


@dataclass(frozen=True, slots=True)
class CaseloadQuery:
    team_ids: list[str]
    metrics: list[str]
    search: str | None
    sort: str  # a key of SORTS
    descending: bool
    limit: int
    offset: int


async def page(conn: AsyncConnection[Any], q: CaseloadQuery) -> list[dict[str, Any]]:
    order_by = SORTS[q.sort].format(dir="DESC" if q.descending else "ASC")
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        _CASELOAD.format(order_by=order_by),
        {"teams": q.team_ids, "q": q.search.lower() if q.search else None,
         "order": list(SEVERITY_ORDER), "metrics": q.metrics, "limit": q.limit,
         "offset": q.offset},
    )  # fmt: skip
    return await cur.fetchall()
