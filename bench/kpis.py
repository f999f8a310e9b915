"""Program KPIs' cost (issue 13 benchmark, part of `vigil bench reports`): `kpi_figures`.

One care team of 1,000 patients over 90 days, written set-based (generate_series) into the
bench's own database `vigil_bench_kpis`:
- everyone: a cuff morning and evening (SBP and DBP: 360 k rows), every 7th patient high;
- 30 % on a CGM reading every 15 minutes (FreeStyle Libre's stored cadence: 2.6 M rows), every
  5th of them with a 10 % share of lows; 30 % on a meter twice a day; 40 % on a scale daily;
  every 20th patient silent for the last 20 days;
- readings stored when measured (`stored_at`), so the incremental refresh after the seed sees
  only the late day, as in production;
- two alerts per patient (opened, acknowledged 10 to 190 minutes later, resolved; one in eight
  a false alarm; every 10th escalated to the doctor with a callback task) and a follow-up call
  per patient in the period. About 3.1 M readings in all.

Figures: `kpi_first_refresh_s` (the first refresh of `readings_daily` over everything),
`kpi_incremental_refresh_s` (after a day of late readings for every patient), `kpis_s` (the
team's KPIs for the last 90 days from the refreshed aggregate, median of 3), `kpi_rows`.

Must not: touch any database but `vigil_bench_kpis`.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg import AsyncConnection

from bench.database import BENCH_DB, bench_database
from reports import kpi_queries as q
from reports.kpis import Period
from vigil.settings import Settings

DB = BENCH_DB + "_kpis"
TEAM = "kpi-team"
PATIENTS = 1000
DAYS = 90

_SEED = (
    "INSERT INTO care_teams (id, name) VALUES ('kpi-team', 'KPI bench')",
    "INSERT INTO patients (id, team_id, display_name, created_at) SELECT 'k' || i, 'kpi-team',"
    " 'Bench ' || i, %(t0)s - interval '30 days' FROM generate_series(1, %(n)s) i",
    "INSERT INTO devices (id, kind, expected_cadence_s) SELECT 'k' || i || '-' || d.kind, d.kind,"
    " d.cadence FROM generate_series(1, %(n)s) i, (VALUES ('bp_cuff', 43200), ('cgm', 900),"
    " ('glucometer', 43200), ('scale', 86400)) d(kind, cadence)",
    # BP twice a day (SBP, DBP); every 7th patient high; every 20th silent for the last 20 days
    "INSERT INTO readings (time, device_id, seq, metric, patient_id, value, unit, orig_value,"
    " orig_unit, received_at, stored_at) SELECT t, 'k' || i || '-bp_cuff', k, m.metric, 'k' || i,"
    " m.base + CASE WHEN i %% 7 = 0 THEN m.high ELSE 0 END + (k %% 9) - 4, 'mm[Hg]', 0, '', t, t"
    " FROM generate_series(1, %(n)s) i, generate_series(0, %(days)s * 2 - 1) k,"
    " LATERAL (SELECT %(t0)s + k * interval '12 hours' + (i %% 600) * interval '1 minute' AS t) s,"
    " (VALUES ('systolic_bp', 128.0, 14.0), ('diastolic_bp', 78.0, 9.0)) m(metric, base, high)"
    " WHERE NOT (i %% 20 = 0 AND k >= (%(days)s - 20) * 2)",
    # CGM every 15 minutes for 30 % of the patients (i %% 10 < 3); every 5th of them runs low
    "INSERT INTO readings (time, device_id, seq, metric, patient_id, value, unit, orig_value,"
    " orig_unit, received_at, stored_at) SELECT t, 'k' || i || '-cgm', k, 'glucose', 'k' || i,"
    " CASE WHEN i %% 50 < 3 AND k %% 10 = 0 THEN 62 ELSE 90 + (k * 37 + i) %% 130 END,"
    " 'mg/dL', 0, '', t, t FROM generate_series(1, %(n)s) i,"
    " generate_series(0, %(days)s * 96 - 1) k,"
    " LATERAL (SELECT %(t0)s + k * interval '15 minutes' AS t) s"
    " WHERE i %% 10 < 3 AND NOT (i %% 20 = 0 AND k >= (%(days)s - 20) * 96)",
    # a meter twice a day for 30 %, a scale daily for 40 %
    "INSERT INTO readings (time, device_id, seq, metric, patient_id, value, unit, orig_value,"
    " orig_unit, received_at, stored_at) SELECT t, 'k' || i || '-' || d.kind, k, d.metric,"
    " 'k' || i, d.base + (k * 13 + i) %% d.spread, '', 0, '', t, t"
    " FROM generate_series(1, %(n)s) i,"
    " (VALUES ('glucometer', 'glucose', 80, 140, 3, 6, 2), ('scale', 'weight', 60, 30, 6, 10, 1))"
    " d(kind, metric, base, spread, lo, hi, per_day),"
    " LATERAL generate_series(0, %(days)s * d.per_day - 1) k,"
    " LATERAL (SELECT %(t0)s + k * interval '1 day' / d.per_day + interval '7 hours' AS t) s"
    " WHERE i %% 10 >= d.lo AND i %% 10 < d.hi",
)

_ALERTS = (
    "INSERT INTO alerts (id, patient_id, rule_id, title, severity, status, metric, unit, worse,"
    " first_value, last_value, worst_value, opened_at, last_seen_at, tier, escalation, outcome,"
    " acknowledged_at, resolved_at) SELECT md5('a' || i || '-' || j)::uuid, 'k' || i,"
    " (ARRAY['bp_high', 'glucose_low', 'weight_gain', 'spo2_low'])[1 + (i + j) %% 4], 'bench',"
    " 'high', 'resolved', 'x', 'x', 'higher', 1, 1, 1, o, o,"
    " CASE WHEN i %% 10 = 0 THEN 3 ELSE 2 END, jsonb_build_object('v', 1, 'clocks',"
    ' \'{"high": {"2": [3600, 14400], "3": [14400, 172800]}}\'::jsonb),'
    " CASE WHEN (i + j) %% 8 = 0 THEN 'false_alarm' ELSE 'advice_given' END,"
    " o + ((10 + (i * 7 + j) %% 180) * interval '1 minute'), o + interval '6 hours'"
    " FROM generate_series(1, %(n)s) i, generate_series(1, 2) j,"
    " LATERAL (SELECT %(t0)s + ((i * 13 + j * 37) %% (%(days)s - 1)) * interval '1 day'"
    " + interval '9 hours' AS o) s",
    "INSERT INTO alert_events (event_id, alert_id, patient_id, kind, at, payload, tier)"
    " SELECT md5(a.id::text || e.kind)::uuid, a.id, a.patient_id, e.kind, e.at,"
    " jsonb_build_object('due', e.due, 'deadline', e.deadline), a.tier FROM alerts a,"
    " LATERAL (VALUES ('opened', a.opened_at, 'ack',"
    "   a.opened_at + CASE WHEN a.tier = 3 THEN interval '4 hours' ELSE interval '1 hour' END),"
    "  ('acknowledged', a.acknowledged_at, 'resolution', a.resolved_at),"
    "  ('resolved', a.resolved_at, NULL, NULL)) e(kind, at, due, deadline)",
    "INSERT INTO care_tasks (id, patient_id, team_id, kind, owner_role, due_at, status, alert_id,"
    " created_at, created_by, completed_at) SELECT md5('cb' || a.id::text)::uuid, a.patient_id,"
    " 'kpi-team', 'callback', 'doctor', a.opened_at + interval '48 hours', 'done', a.id,"
    " a.opened_at, 'bench', a.opened_at + (20 + (hashtext(a.id::text) & 63)) * interval '1 hour'"
    " FROM alerts a WHERE a.tier = 3",
    "INSERT INTO care_tasks (id, patient_id, team_id, kind, owner_role, due_at, status,"
    " created_at, created_by) SELECT md5('fu' || i)::uuid, 'k' || i, 'kpi-team',"
    " 'follow_up_call', 'nurse', %(t0)s + (i %% 80) * interval '1 day', 'open', %(t0)s, 'bench'"
    " FROM generate_series(1, %(n)s) i",
    "INSERT INTO follow_up_records (id, patient_id, at, recorded_by, contact_type, outcome)"
    " SELECT md5('fr' || i)::uuid, 'k' || i, %(t0)s + (i %% 80) * interval '1 day', 'bench',"
    " 'phone', 'reached' FROM generate_series(1, %(n)s) i WHERE i %% 6 <> 0",
)

_LATE_DAY = (
    "INSERT INTO readings (time, device_id, seq, metric, patient_id, value, unit, orig_value,"
    " orig_unit, received_at) SELECT %(t0)s + interval '40 days 13 hours', 'k' || i || '-bp_cuff',"
    " 100000, 'systolic_bp', 'k' || i, 131, 'mm[Hg]', 0, '', now()"
    " FROM generate_series(1, %(n)s) i"
)


async def _seed(dsn: str, t0: datetime) -> int:
    params = {"n": PATIENTS, "days": DAYS, "t0": t0}
    async with await AsyncConnection.connect(dsn, autocommit=True) as conn:
        for sql in (*_SEED, *_ALERTS):
            await conn.execute(sql, params)
        await conn.execute("ANALYZE")
        cur = await conn.execute("SELECT count(*) FROM readings")
        return int((await cur.fetchone() or (0,))[0])


async def _timed(coro: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = await coro
    return time.perf_counter() - start, result


async def kpi_figures(settings: Settings) -> dict[str, float]:
    dsn, mode = bench_database(settings, DB)
    today = datetime.now(UTC).date()
    t0 = datetime.combine(today - timedelta(days=DAYS), datetime.min.time(), UTC)
    seed_s, rows = await _timed(_seed(dsn, t0))
    period = Period(today - timedelta(days=DAYS), today - timedelta(days=1))
    async with await AsyncConnection.connect(dsn, autocommit=True) as conn:
        first_s, _ = await _timed(q.refresh(conn))
        await conn.execute(_LATE_DAY, {"n": PATIENTS, "t0": t0})
        incremental_s, _ = await _timed(q.refresh(conn))
        now = datetime.now(UTC)
        runs = [(await _timed(q.read(conn, TEAM, period, now)))[0] for _ in range(3)]
        figures = (await q.read(conn, TEAM, period, now)).figures
    assert figures["patients"]["enrolled"] == PATIENTS
    return {
        "kpis_s": round(statistics.median(runs), 3),
        "kpi_first_refresh_s": round(first_s, 3),
        "kpi_incremental_refresh_s": round(incremental_s, 3),
        "kpi_seed_s": round(seed_s, 1),
        "kpi_rows": float(rows),
        "kpi_timescaledb": 1.0 if mode == "timescaledb" else 0.0,
    }


if __name__ == "__main__":
    import json

    from vigil.settings import load_settings

    print(json.dumps(asyncio.run(kpi_figures(load_settings())), indent=2))
