"""Risk on PostgreSQL: the figures the tag rules read, computed set-based for many patients in
one statement, and the stored tier, tags and history.

`figures` aggregates 30 days of readings, the NEWS2 detections of 24 hours, open alerts,
referrals, the record's conditions and the plan for a set of patients (or all of them) at a
given `now`; `save` writes what changed (current risk, one history row per change, and a
review task per rise to high) in a few round trips whatever the number of patients.

Must not: decide a tag or a tier (program.risk does), or commit (the caller owns the
transaction).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from program.risk import Tag, Tier

FIGURES = (
    "sys_mean_7d", "dia_mean_7d", "bp_n_7d", "glucose_n_14d", "tbr_pct_14d", "tir_pct_14d",
    "glucose_min_30d", "weight_gain_3d_kg", "heart_failure", "news2_max_24h", "beyond_grace_days",
    "expected_daily", "open_high_alerts", "referred_30d", "days_with_data_30d",
)  # fmt: skip

# The patients of the pass: all, or those named.
_PATIENTS = "SELECT id FROM patients WHERE %(all)s OR id = ANY(%(ids)s)"

_FIGURES_SQL = f"""
WITH p AS ({_PATIENTS}),
plan AS (
  SELECT i.patient_id, min(i.grace_s) / 86400.0 AS grace_days,
    array_agg(DISTINCT m) AS metrics
  FROM plan_items i CROSS JOIN LATERAL unnest(i.metrics) AS m
  WHERE i.valid_to IS NULL AND i.frequency IN ('times_per_day', 'daily', 'continuous')
  GROUP BY i.patient_id),
r AS (
  SELECT patient_id,
    avg(value) FILTER (WHERE metric = 'systolic_bp' AND time > %(d7)s) AS sys_mean_7d,
    avg(value) FILTER (WHERE metric = 'diastolic_bp' AND time > %(d7)s) AS dia_mean_7d,
    count(*) FILTER (WHERE metric = 'systolic_bp' AND time > %(d7)s) AS bp_n_7d,
    count(*) FILTER (WHERE metric = 'glucose' AND time > %(d14)s) AS glucose_n_14d,
    count(*) FILTER (WHERE metric = 'glucose' AND time > %(d14)s AND value < 70) AS g_low,
    count(*) FILTER (WHERE metric = 'glucose' AND time > %(d14)s AND value BETWEEN 70 AND 180)
      AS g_in,
    min(value) FILTER (WHERE metric = 'glucose') AS glucose_min_30d,
    (array_agg(value ORDER BY time DESC) FILTER (WHERE metric = 'weight' AND time > %(d3)s))[1]
      - min(value) FILTER (WHERE metric = 'weight' AND time > %(d3)s) AS weight_gain_3d_kg,
    max(time) FILTER (WHERE metric = ANY(plan.metrics)) AS last_at,
    -- local calendar days with data: one bit per day back from today (no sort, unlike
    -- count(DISTINCT date))
    bit_count(bit_or(1::bigint << ((%(now)s AT TIME ZONE pt.tz)::date
                                   - (time AT TIME ZONE pt.tz)::date))::bit(64))
      AS days_with_data_30d
  FROM readings JOIN patients pt ON pt.id = readings.patient_id LEFT JOIN plan USING (patient_id)
  WHERE time > %(d30)s AND time <= %(now)s AND (%(all)s OR patient_id = ANY(%(ids)s))
  GROUP BY patient_id),
n AS (
  SELECT patient_id, max(value) AS news2_max_24h FROM detections
  WHERE metric = 'news2' AND kind = 'fired' AND measured_at > %(d1)s AND measured_at <= %(now)s
    AND (%(all)s OR patient_id = ANY(%(ids)s))
  GROUP BY patient_id),
a AS (
  SELECT patient_id,
    count(*) FILTER (WHERE status <> 'resolved' AND severity IN ('high', 'critical'))
      AS open_high_alerts,
    count(*) FILTER (WHERE outcome = 'referred' AND resolved_at > %(d30)s) AS referred_30d
  FROM alerts
  WHERE (status <> 'resolved' OR resolved_at > %(d30)s) AND (%(all)s OR patient_id = ANY(%(ids)s))
  GROUP BY patient_id),
hf AS (
  SELECT DISTINCT patient_id FROM patient_conditions
  WHERE valid_to IS NULL AND ((system = 'icd10' AND code LIKE 'I50%%')
                              OR (system = 'snomed' AND code = '84114007'))),
last_any AS (  -- silent for 30 days or more: the last planned reading, by index, per patient
  SELECT plan.patient_id, l.last_at FROM plan
  LEFT JOIN r ON r.patient_id = plan.patient_id
  CROSS JOIN LATERAL (SELECT max(time) AS last_at FROM readings
    WHERE readings.patient_id = plan.patient_id AND metric = ANY(plan.metrics)
      AND time <= %(now)s) l
  WHERE r.last_at IS NULL AND (%(all)s OR plan.patient_id = ANY(%(ids)s)))
SELECT p.id, r.sys_mean_7d, r.dia_mean_7d, r.bp_n_7d, r.glucose_n_14d,
  100.0 * r.g_low / NULLIF(r.glucose_n_14d, 0), 100.0 * r.g_in / NULLIF(r.glucose_n_14d, 0),
  r.glucose_min_30d, r.weight_gain_3d_kg, (hf.patient_id IS NOT NULL)::int, n.news2_max_24h,
  extract(epoch FROM %(now)s - COALESCE(r.last_at, last_any.last_at, pr.enrolled_at)) / 86400
    - plan.grace_days,
  (plan.patient_id IS NOT NULL)::int, COALESCE(a.open_high_alerts, 0),
  COALESCE(a.referred_30d, 0), COALESCE(r.days_with_data_30d, 0)
FROM p
LEFT JOIN r ON r.patient_id = p.id
LEFT JOIN n ON n.patient_id = p.id
LEFT JOIN a ON a.patient_id = p.id
LEFT JOIN hf ON hf.patient_id = p.id
LEFT JOIN plan ON plan.patient_id = p.id
LEFT JOIN last_any ON last_any.patient_id = p.id
LEFT JOIN LATERAL (
  SELECT COALESCE(rec.enrolled_on::timestamptz, pt.created_at) AS enrolled_at
  FROM patients pt LEFT JOIN patient_records rec ON rec.patient_id = pt.id WHERE pt.id = p.id
) pr ON true
"""


def _window(now: datetime, ids: Sequence[str] | None) -> dict[str, Any]:
    return {
        "all": ids is None, "ids": list(ids or ()), "now": now,
        "d1": now - timedelta(days=1), "d3": now - timedelta(days=3),
        "d7": now - timedelta(days=7), "d14": now - timedelta(days=14),
        "d30": now - timedelta(days=30),
    }  # fmt: skip


async def figures(
    conn: AsyncConnection[Any], now: datetime, ids: Sequence[str] | None = None
) -> dict[str, dict[str, float | None]]:
    """patient id -> figure -> value (None: no data), for `ids` or every patient. In the
    caller's transaction, with JIT off for it: compiling this plan cost more (1.8 s) than it
    saved."""
    await conn.execute("SET LOCAL jit = off")
    cur = await conn.execute(_FIGURES_SQL, _window(now, ids))
    return {
        row[0]: {
            k: (None if v is None else float(v)) for k, v in zip(FIGURES, row[1:], strict=True)
        }
        for row in await cur.fetchall()
    }


def _float(v: Any) -> float | None:
    return None if v is None else float(v)


@dataclass(frozen=True, slots=True)
class Stored:
    tier: Tier
    tags: tuple[str, ...]


async def current(conn: AsyncConnection[Any], ids: Sequence[str] | None) -> dict[str, Stored]:
    cur = await conn.execute(
        "SELECT patient_id, tier, tags FROM patient_risk"
        " WHERE %(all)s OR patient_id = ANY(%(ids)s)",
        {"all": ids is None, "ids": list(ids or ())},
    )
    return {pid: Stored(Tier.of(tier), tuple(tags)) for pid, tier, tags in await cur.fetchall()}


@dataclass(frozen=True, slots=True)
class Change:
    patient_id: str
    before: Tier | None
    tier: Tier
    tags: tuple[Tag, ...]
    figures: dict[str, float | None]
    changed: bool = True  # tier or tags differ from the stored ones (a history row)


async def save(conn: AsyncConnection[Any], now: datetime, assessed: Sequence[Change]) -> None:
    """Store the assessments (the figures of every one, unless equal to the stored ones) and
    a history row per change of tier or tags, in two statements."""
    if not assessed:
        return
    ids = [c.patient_id for c in assessed]
    tiers = [c.tier.label for c in assessed]
    tags = [",".join(c.tags) for c in assessed]
    await conn.execute(
        "INSERT INTO patient_risk (patient_id, tier, tags, figures, tier_since, computed_at)"
        " SELECT pid, tier, COALESCE(string_to_array(NULLIF(tags, ''), ','), '{}'), fig,"
        "   %(now)s, %(now)s"
        " FROM unnest(%(ids)s::text[], %(tiers)s::text[], %(tags)s::text[], %(figs)s::jsonb[])"
        "   AS u(pid, tier, tags, fig)"
        " ON CONFLICT (patient_id) DO UPDATE SET tags = EXCLUDED.tags, figures = EXCLUDED.figures,"
        "   computed_at = EXCLUDED.computed_at, tier = EXCLUDED.tier,"
        "   tier_since = CASE WHEN patient_risk.tier = EXCLUDED.tier THEN patient_risk.tier_since"
        "                ELSE EXCLUDED.tier_since END"
        " WHERE patient_risk.figures IS DISTINCT FROM EXCLUDED.figures"
        "   OR patient_risk.tier IS DISTINCT FROM EXCLUDED.tier"
        "   OR patient_risk.tags IS DISTINCT FROM EXCLUDED.tags",
        {"now": now, "ids": ids, "tiers": tiers, "tags": tags,
         "figs": [Jsonb(c.figures) for c in assessed]},
    )  # fmt: skip
    changes = [c for c in assessed if c.changed]
    if not changes:
        return
    ids = [c.patient_id for c in changes]
    tiers = [c.tier.label for c in changes]
    tags = [",".join(c.tags) for c in changes]
    await conn.execute(
        "INSERT INTO risk_history (patient_id, at, tier, previous_tier, tags)"
        " SELECT pid, %(now)s, tier, prev, COALESCE(string_to_array(NULLIF(tags, ''), ','), '{}')"
        " FROM unnest(%(ids)s::text[], %(tiers)s::text[], %(prev)s::text[], %(tags)s::text[])"
        "   AS u(pid, tier, prev, tags)",
        {"now": now, "ids": ids, "tiers": tiers, "tags": tags,
         "prev": [c.before.label if c.before is not None else None for c in changes]},
    )  # fmt: skip


REVIEW_DUE = timedelta(hours=24)  # a nurse reviews a patient who became high risk within a day


async def open_reviews(conn: AsyncConnection[Any], now: datetime, rises: Sequence[Change]) -> int:
    """A tier-2 review task for the nurse per rise to high (at most one open per patient)."""
    if not rises:
        return 0
    ids = [c.patient_id for c in rises]
    task_ids = [uuid.uuid4() for _ in rises]
    reasons = ["risk high: " + ", ".join(c.tags) for c in rises]
    cur = await conn.execute(
        "WITH t AS (INSERT INTO care_tasks (id, patient_id, team_id, kind, owner_role, owner,"
        "   due_at, reason, created_at, created_by)"
        " SELECT tid, p.id, p.team_id, 'risk_review', 'nurse', rec.responsible_nurse,"
        "   %(due)s, reason, %(now)s, 'system'"
        " FROM unnest(%(ids)s::text[], %(tids)s::uuid[], %(reasons)s::text[])"
        "   AS u(pid, tid, reason)"
        " JOIN patients p ON p.id = u.pid"
        " LEFT JOIN patient_records rec ON rec.patient_id = p.id"
        " ON CONFLICT DO NOTHING RETURNING id, patient_id)"
        " INSERT INTO audit_log (at, actor, role, action, resource, patient_id, detail)"
        " SELECT %(now)s, 'system', 'system', 'create', 'task', patient_id,"
        "   jsonb_build_object('task_id', id, 'kind', 'risk_review') FROM t",
        {"now": now, "due": now + REVIEW_DUE, "ids": ids, "tids": task_ids, "reasons": reasons},
    )  # fmt: skip
    return cur.rowcount


async def history(conn: AsyncConnection[Any], patient_id: str, limit: int) -> list[dict[str, Any]]:
    """A patient's changes of tier and tags, newest first."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT at, tier, previous_tier, tags FROM risk_history WHERE patient_id = %s"
        " ORDER BY at DESC, id DESC LIMIT %s",
        (patient_id, limit),
    )
    return await cur.fetchall()
