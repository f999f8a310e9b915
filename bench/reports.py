"""`vigil bench reports`: what the reports of issue 13 cost.

- `report_pdf_s`: one patient's 90-day summary as a PDF, the way the REST endpoint makes it
  (reports.summary_queries.load in one transaction, reports.summary.summarise, the HTML with its
  charts, WeasyPrint's PDF): the median of `RUNS` runs after a first, cold one
  (`report_pdf_cold_s`: matplotlib's and WeasyPrint's imports and font caches); the patient has
  90 days of 5-minute CGM (25,920 readings), home BP twice a day, a weight every morning and a
  few alerts, in Asia/Shanghai. `report_html_s` and `report_load_s` are the parts;
  `report_pdf_cpu_s` is the same median in this process's CPU time (a fairer figure on a
  shared machine: the wall time waits for other processes' turns).
- `kpis_s` and the refresh figures (bench/kpis.py, database `vigil_bench_kpis`) and
  `fhir_export_rows_per_s` (bench/fhir_export.py, `vigil_bench_fhir`) join the same dict, so
  that `vigil bench reports --json` prints all of issue 13's figures.

The population is written set-based by this module (as bench/program.py does): one patient
through the product's ingest would measure the ingest, not the report.

Must not: touch any database but the benches' own.
"""

from __future__ import annotations

import logging
import statistics
import time
from datetime import UTC, datetime
from typing import Any

import psycopg

from bench.database import bench_database
from reports.render import report_html, report_pdf
from reports.summary import summarise
from reports.summary_queries import load
from vigil.settings import Settings

log = logging.getLogger(__name__)
RUNS = 3
PATIENT = "rp1"
DAYS = 90

_POPULATE = (
    "INSERT INTO care_teams (id, name) VALUES ('bench-team', 'Bench')",
    "INSERT INTO patients (id, team_id, display_name, tz, lang, created_at)"
    " VALUES ('rp1', 'bench-team', 'Bench Report', 'Asia/Shanghai', 'zh',"
    " %(now)s - interval '120 days')",
    "INSERT INTO devices (id, kind, expected_cadence_s) VALUES ('rp1-cgm', 'cgm', 300),"
    " ('rp1-bp', 'bp_cuff', 43200), ('rp1-scale', 'scale', 86400)",
    "INSERT INTO device_bindings (device_id, patient_id, valid_from)"
    " SELECT d, 'rp1', %(now)s - interval '100 days' FROM unnest(ARRAY['rp1-cgm', 'rp1-bp',"
    " 'rp1-scale']) d",
    # 90 days of 5-minute CGM: a daily swing around 150 mg/dL with noise and a few lows.
    "INSERT INTO readings (time, device_id, seq, metric, patient_id, value, unit, orig_value,"
    " orig_unit, received_at) SELECT t, 'rp1-cgm', k, 'glucose', 'rp1', v, 'mg/dL', v, 'mg/dL', t"
    " FROM generate_series(1, 25920) k, LATERAL (SELECT %(now)s - k * interval '5 minutes' AS t,"
    " greatest(40, 150 + 60 * sin(k * 2 * pi() / 288) + ((k * 7919) %% 41) - 20"
    " - CASE WHEN k %% 2000 < 6 THEN 90 ELSE 0 END)::float8 AS v) x",
    # home BP at 07:00 and 19:00 local (23:00 and 11:00 UTC), systolic and diastolic per message
    "INSERT INTO readings (time, device_id, seq, metric, patient_id, value, unit, orig_value,"
    " orig_unit, received_at) SELECT t, 'rp1-bp', k, m.metric, 'rp1', v, 'mm[Hg]', v, 'mm[Hg]', t"
    " FROM generate_series(1, 180) k, LATERAL (SELECT date_trunc('day', %(now)s)"
    " - (k / 2 + 1) * interval '1 day' + CASE WHEN k %% 2 = 0 THEN interval '23 hours'"
    " ELSE interval '11 hours' END AS t) s, LATERAL (VALUES ('systolic_bp', 128 + k %% 17),"
    " ('diastolic_bp', 80 + k %% 9)) m(metric, v)",
    "INSERT INTO readings (time, device_id, seq, metric, patient_id, value, unit, orig_value,"
    " orig_unit, received_at) SELECT t, 'rp1-scale', k, 'weight', 'rp1', 78 + (k %% 5) * 0.4,"
    " 'kg', 0, 'kg', t FROM generate_series(1, 90) k,"
    " LATERAL (SELECT date_trunc('day', %(now)s) - k * interval '1 day' AS t) s",
    "INSERT INTO alerts (id, patient_id, rule_id, title, severity, status, metric, unit, worse,"
    " first_value, last_value, worst_value, opened_at, last_seen_at, tier, acknowledged_at,"
    " resolved_at, outcome) SELECT gen_random_uuid(), 'rp1', 'glucose.level1_low',"
    " 'Glucose below 70 mg/dL', 'high', 'resolved', 'glucose', 'mg/dL', 'lower', 62, 62, 58,"
    " t, t, 2, t + interval '11 minutes', t + interval '40 minutes', 'advice_given'"
    " FROM generate_series(1, 12) k, LATERAL (SELECT %(now)s - k * interval '7 days' AS t) s",
    "ANALYZE",
)  # fmt: skip


def _populate(dsn: str, now: datetime) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for sql in _POPULATE:
            conn.execute(sql, {"now": now} if "%(" in sql else None)
        row = conn.execute("SELECT count(*) FROM readings").fetchone()
    return int(row[0]) if row else 0


async def _one(dsn: str, now: datetime) -> tuple[float, float, float, float]:
    """(load s, html s, total s, total CPU s of this process) of one report."""
    cpu = time.process_time()
    started = time.perf_counter()
    async with await psycopg.AsyncConnection.connect(dsn) as conn, conn.transaction():
        data = await load(conn, PATIENT, DAYS, now)
    loaded = time.perf_counter()
    assert data is not None
    html = report_html(summarise(data), "zh")
    drawn = time.perf_counter()
    report_pdf(html)
    done = time.perf_counter()
    return loaded - started, drawn - loaded, done - started, time.process_time() - cpu


async def report_figures(settings: Settings) -> dict[str, Any]:
    dsn, mode = bench_database(settings)
    now = datetime.now(UTC)
    readings = _populate(dsn, now)
    _, _, cold_s, _ = await _one(dsn, now)
    runs = [await _one(dsn, now) for _ in range(RUNS)]
    log.info("report runs: %s", [round(r[2], 3) for r in runs])
    figures: dict[str, Any] = {
        "report_pdf_s": round(statistics.median(r[2] for r in runs), 3),
        "report_pdf_cold_s": round(cold_s, 3),
        "report_load_s": round(statistics.median(r[0] for r in runs), 3),
        "report_html_s": round(statistics.median(r[1] for r in runs), 3),
        "report_pdf_cpu_s": round(statistics.median(r[3] for r in runs), 3),
        "report_runs_s": [round(r[2], 3) for r in runs],
        "report_readings": readings,
        "storage_mode": mode,
    }
    # the other figures of issue 13, each in its own bench database
    from bench.fhir_export import fhir_figures
    from bench.kpis import kpi_figures

    figures.update(await kpi_figures(settings))
    figures.update(await fhir_figures(settings))
    return figures
