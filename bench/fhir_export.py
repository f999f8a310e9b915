"""`fhir_export_rows_per_s` (issue 13): the FHIR bulk export of one care team with more than
200,000 Observations, written as NDJSON by the product's own exporter (reports.fhir_bulk), the
median of 3 runs.

The team: 200 patients, each with a CGM (5-minute glucose for 3.5 days: 1,000 readings), a cuff
(blood pressure twice a day for 30 days: 60 panels of two readings, with heart rate) and a scale
(a weight a day): 230,200 Observations from 242,000 readings, plus the team's Patients and
Devices (230,800 resources). Seeded by SQL in bulk, as
bench/program.py seeds its cohort; the files go under the state directory and are deleted.

Run: `infra/services.sh up postgres`, then `python -m bench.fhir_export` (prints JSON).
Must not: touch any database but `vigil_bench_fhir`.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import time
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from bench.database import bench_database
from reports.fhir_bulk import write_files
from vigil.settings import Settings, load_settings

DATABASE = "vigil_bench_fhir"
TEAM = "fhir-team"
PATIENTS = 200
RUNS = 3

_SEED = (
    "INSERT INTO care_teams (id, name) VALUES ('fhir-team', 'FHIR bench')",
    "INSERT INTO patients (id, team_id, display_name) SELECT 'fp' || i, 'fhir-team', 'Bench ' || i"
    " FROM generate_series(1, %(n)s) i",
    "INSERT INTO devices (id, kind, expected_cadence_s) SELECT 'f' || k || i, kind, 300"
    " FROM generate_series(1, %(n)s) i,"
    " (VALUES ('cgm', 'cgm'), ('cuff', 'bp_cuff'), ('scale', 'scale')) d(k, kind)",
    "INSERT INTO device_bindings (device_id, patient_id, valid_from)"
    " SELECT 'f' || k || i, 'fp' || i, %(now)s - interval '60 days'"
    " FROM generate_series(1, %(n)s) i, (VALUES ('cgm'), ('cuff'), ('scale')) d(k)",
    "INSERT INTO readings (time, device_id, seq, metric, patient_id, value, unit, orig_value,"
    " orig_unit, received_at) SELECT t, 'fcgm' || i, k, 'glucose', 'fp' || i, 80 + (i + k) %% 150,"
    " 'mg/dL', 80 + (i + k) %% 150, 'mg/dL', t FROM generate_series(1, %(n)s) i,"
    " generate_series(0, 999) k, LATERAL (SELECT %(now)s - k * interval '5 minutes' AS t) s",
    "INSERT INTO readings (time, device_id, seq, metric, patient_id, value, unit, orig_value,"
    " orig_unit, received_at) SELECT t, 'fcuff' || i, k, m.metric, 'fp' || i, m.base + k %% 9,"
    " 'mm[Hg]', m.base + k %% 9, 'mm[Hg]', t FROM generate_series(1, %(n)s) i,"
    " generate_series(0, 59) k, LATERAL (SELECT %(now)s - k * interval '12 hours' AS t) s,"
    " (VALUES ('systolic_bp', 128.0), ('diastolic_bp', 78.0), ('heart_rate', 66.0))"
    " m(metric, base)",
    "UPDATE readings SET unit = '/min', orig_unit = '/min' WHERE metric = 'heart_rate'",
    "INSERT INTO readings (time, device_id, seq, metric, patient_id, value, unit, orig_value,"
    " orig_unit, received_at) SELECT t, 'fscale' || i, k, 'weight', 'fp' || i, 70 + i %% 30, 'kg',"
    " 70 + i %% 30, 'kg', t FROM generate_series(1, %(n)s) i, generate_series(0, 29) k,"
    " LATERAL (SELECT %(now)s - k * interval '1 day' AS t) s",
    "ANALYZE",
)  # fmt: skip


def _seed(dsn: str, now: datetime) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for sql in _SEED:
            conn.execute(sql, {"n": PATIENTS, "now": now} if "%(" in sql else None)
        row = conn.execute("SELECT count(*) FROM readings").fetchone()
    return int(row[0]) if row else 0


async def fhir_figures(settings: Settings) -> dict[str, float]:
    """Seed the bench team, export it RUNS times; rows (resources) per second, the median."""
    dsn, _ = bench_database(settings, DATABASE)
    readings = await asyncio.to_thread(_seed, dsn, datetime.now(UTC))
    out = settings.state_dir.resolve() / "bench-fhir-export"
    seconds: list[float] = []
    rows = 0
    try:
        async with AsyncConnectionPool(dsn, min_size=1, max_size=2, open=False) as pool:
            for _ in range(RUNS):
                started = time.perf_counter()
                counts = await write_files(pool, TEAM, out)
                seconds.append(time.perf_counter() - started)
                rows = sum(counts.values())
    finally:
        await asyncio.to_thread(shutil.rmtree, out, ignore_errors=True)
    median = statistics.median(seconds)
    return {
        "fhir_export_rows_per_s": round(rows / median, 1),
        "fhir_export_rows": float(rows),
        "fhir_export_readings": float(readings),
        "fhir_export_s": round(median, 3),
    }


def main() -> None:
    figures: dict[str, Any] = asyncio.run(fhir_figures(load_settings()))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
