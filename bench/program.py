"""`vigil bench program`: what the care program costs.

- `recompute_s`: adherence (program.repository.adherence_many: expected vs received per plan
  item over 7 and 30 days, billing days) and one full risk pass (program.recompute: the
  plan-aware "not measuring" figure, days with data, every tag and tier, stored with history
  and review tasks) at once on two connections; `adherence_s` and `risk_s` each alone, over
  `patients` patients with 30 days of readings each: a cuff twice a day, a fasting glucose
  daily, 4 in 10 with a weight every morning, plans from the hypertension template, some
  patients silent, some hypotensive or hyperglycaemic so that tags and tiers change. The
  synthetic population is written set-based by this module (`_populate`): ten thousand
  patients through the product's enrolment would measure the enrolment, not the pass.
- `hot_path_us_per_reading`: `bench stream`'s embedded drain (the `vigil run` process: decode,
  operator, database write) with the program on (risk passes and the reminder scheduler every
  second, much more often than their 30 s and 60 s defaults) and off, in alternating rounds;
  the added microseconds per reading from the median rates, and `embedded_rps_drop_pct`.

Must not: touch any database but `vigil_bench`.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any, TypeVar

import psycopg

from bench.database import bench_database, enrolled
from bench.stream import PORT, _embedded_drain, _Run
from bench.traffic import recent_traffic
from program.recompute import PassResult, recompute
from program.repository import adherence_many
from vigil.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

_POPULATE = (
    "INSERT INTO care_teams (id, name) VALUES ('bench-team', 'Bench') ON CONFLICT DO NOTHING",
    "INSERT INTO patients (id, team_id, display_name, tz, created_at)"
    " SELECT 'bp' || i, 'bench-team', 'Bench ' || i, 'Asia/Shanghai', %(now)s - interval '60 days'"
    " FROM generate_series(1, %(n)s) i",
    "INSERT INTO plan_items (patient_id, item_key, metrics, frequency, local_times, grace_s,"
    " template, valid_from, changed_by) SELECT 'bp' || i, 'bp', '{systolic_bp,diastolic_bp}',"
    " 'times_per_day', '{07:30,19:30}', 259200, 'hypertension', %(now)s - interval '60 days',"
    " 'bench' FROM generate_series(1, %(n)s) i",
    # BP twice a day for 30 days; every 7th patient runs high (uncontrolled), every 50th has
    # been silent for the last 5 days.
    "INSERT INTO readings (time, device_id, seq, metric, patient_id, value, unit, orig_value,"
    " orig_unit, received_at) SELECT t, 'bd' || i, k, m.metric, 'bp' || i,"
    " m.base + CASE WHEN i %% 7 = 0 THEN m.high ELSE 0 END + (k %% 9) - 4, 'mm[Hg]', 0, 'mm[Hg]', t"
    " FROM generate_series(1, %(n)s) i, generate_series(0, 59) k,"
    " LATERAL (SELECT %(now)s - k * interval '12 hours' - (i %% 600) * interval '1 minute' AS t) s,"
    " (VALUES ('systolic_bp', 128.0, 14.0), ('diastolic_bp', 78.0, 9.0)) m(metric, base, high)"
    " WHERE NOT (i %% 50 = 0 AND k < 10)",
    # A fasting glucose a day; every 97th patient had one level-2 hypo.
    "INSERT INTO readings (time, device_id, seq, metric, patient_id, value, unit, orig_value,"
    " orig_unit, received_at) SELECT t, 'bg' || i, k, 'glucose', 'bp' || i,"
    " CASE WHEN i %% 97 = 0 AND k = 3 THEN 50 ELSE 100 + (i + k) %% 40 END, 'mg/dL', 0, 'mg/dL', t"
    " FROM generate_series(1, %(n)s) i, generate_series(0, 29) k,"
    " LATERAL (SELECT %(now)s - k * interval '1 day' - interval '5 hours' AS t) s",
    # A weight every morning for 4 in 10.
    "INSERT INTO readings (time, device_id, seq, metric, patient_id, value, unit, orig_value,"
    " orig_unit, received_at) SELECT t, 'bw' || i, k, 'weight', 'bp' || i,"
    " 70 + i %% 30 + (k %% 3) * 0.3, 'kg', 0, 'kg', t"
    " FROM generate_series(1, %(n)s) i, generate_series(0, 29) k,"
    " LATERAL (SELECT %(now)s - k * interval '1 day' - interval '3 hours' AS t) s"
    " WHERE i %% 10 < 4",
    "ANALYZE",
)  # fmt: skip


def _populate(dsn: str, patients: int, now: datetime) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for sql in _POPULATE:
            conn.execute(sql, {"n": patients, "now": now} if "%(" in sql else None)
        row = conn.execute("SELECT count(*) FROM readings").fetchone()
    return int(row[0]) if row else 0


async def _timed(coro: Awaitable[T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = await coro
    return result, time.perf_counter() - started


async def _risk_pass(dsn: str, now: datetime, fresh: bool) -> tuple[PassResult, float]:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        if fresh:
            await conn.execute("TRUNCATE patient_risk, risk_history, follow_up_records, care_tasks")
            await conn.commit()
        result, seconds = await _timed(recompute(conn, now))
        await conn.commit()
    return result, seconds


async def _adherence(dsn: str, now: datetime) -> tuple[int, float]:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        found, seconds = await _timed(adherence_many(conn, now))
    return len(found), seconds


async def recompute_figures(settings: Settings, patients: int) -> dict[str, Any]:
    """Adherence and risk of every patient, on two connections at once (they are independent:
    the database aggregates risk while Python counts adherence slots), then each alone."""
    dsn, mode = bench_database(settings)
    now = datetime.now(UTC)
    started = time.perf_counter()
    readings = _populate(dsn, patients, now)
    log.info("%d patients, %d readings written in %.1f s", patients, readings,
             time.perf_counter() - started)  # fmt: skip
    started = time.perf_counter()
    (assessed, _), (result, _) = await asyncio.gather(
        _adherence(dsn, now), _risk_pass(dsn, now, fresh=False)
    )
    both_s = time.perf_counter() - started
    _, adherence_s = await _adherence(dsn, now)
    again, unchanged_s = await _risk_pass(dsn, now, fresh=False)
    _, risk_s = await _risk_pass(dsn, now, fresh=True)
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        cur = await conn.execute("SELECT tier, count(*) FROM patient_risk GROUP BY tier")
        tiers = {t: int(c) for t, c in await cur.fetchall()}
    return {"recompute_s": round(both_s, 2), "adherence_s": round(adherence_s, 2),
            "risk_s": round(risk_s, 2), "risk_unchanged_s": round(unchanged_s, 2),
            "adherence_patients": assessed, "recompute_patients": result.assessed,
            "recompute_readings": readings, "recompute_changed": result.changed,
            "recompute_changed_again": again.changed, "reviews_opened": result.reviews_opened,
            "tiers": tiers, "storage_mode": mode}  # fmt: skip


async def hot_path_figures(settings: Settings, messages: int, rounds: int) -> dict[str, Any]:
    bench = await enrolled(settings, program=True)  # plans: the scheduler has work to do
    traffic, readings = recent_traffic(bench.patients, messages)
    logs = bench.settings.state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    base = {"VIGIL_DB__DSN": bench.dsn, "VIGIL_API__PORT": str(PORT)}
    rates: dict[str, list[float]] = {"on": [], "off": []}
    for _ in range(rounds):
        for state in ("off", "on"):
            enabled = str(state == "on").lower()
            env = {**base, "VIGIL_RISK__ENABLED": enabled, "VIGIL_PROGRAM__ENABLED": enabled,
                   "VIGIL_RISK__INTERVAL_S": "1", "VIGIL_RISK__FULL_EVERY_S": "10",
                   "VIGIL_PROGRAM__TICK_S": "1"}  # fmt: skip
            rate = await _embedded_drain(_Run(bench, env, logs), traffic, readings)
            log.info("program %s: %.0f readings/s", state, rate)
            rates[state].append(rate)
    off, on = statistics.median(rates["off"]), statistics.median(rates["on"])
    return {"embedded_rps_program_off": round(off), "embedded_rps_program_on": round(on),
            "embedded_rps_drop_pct": round(100 * (off - on) / off, 1),
            "hot_path_us_per_reading": round(1e6 / on - 1e6 / off, 2),
            "hot_path_rounds": {k: [round(r) for r in v] for k, v in rates.items()},
            "hot_path_readings": readings}  # fmt: skip


async def program_figures(
    settings: Settings, patients: int, messages: int, rounds: int
) -> dict[str, Any]:
    figures = await recompute_figures(settings, patients)
    figures.update(await hot_path_figures(settings, messages, rounds))
    return figures
