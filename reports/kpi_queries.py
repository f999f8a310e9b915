"""The SQL behind program KPIs (reports.kpis is the pure core): refreshing the daily aggregate
of readings and reading one team's figures for one period.

`readings_daily` (migration 0011) is a TimescaleDB continuous aggregate or, on plain PostgreSQL,
a table this module keeps up to date incrementally; the KPI queries read only it for readings
(plus the alerts, alert events and tasks, which are small), so both modes give the same numbers.

Refresh (`refresh`, `ensure_fresh`, `refresh_loop`):
- timescaledb: `CALL refresh_continuous_aggregate` (it needs an autocommit connection); its
  invalidation log re-materialises the days that late readings touched. A second refresh while
  one runs fails at once with LockNotAvailable: `refresh` returns None then, as in plain mode
  (a KPI read and the refresh loop meet there). The first refresh is followed by VACUUM ANALYZE
  of the materialisation hypertable, as in plain mode (the KPI read took twice as long without);
- plain: the (patient, UTC day) pairs of readings stored since the last mark minus `OVERLAP`
  (a sink transaction that began before the mark commits after it) are recomputed from
  `readings` and upserted, in one transaction serialised by an advisory lock. The first refresh
  aggregates everything (then VACUUM ANALYZE: the KPI query's plans need statistics and the
  index-only scan a visibility map; autovacuum keeps them afterwards). A late reading
  (measured days ago, stored now) is found by its `stored_at`, so its old day is recomputed.

Must not: decide what a figure means (reports.kpis does) or write anything but the aggregate
and its mark.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from psycopg import AsyncConnection
from psycopg.errors import LockNotAvailable
from psycopg.rows import dict_row
from psycopg.sql import SQL, Identifier
from psycopg_pool import AsyncConnectionPool

from reports import kpis as k

log = logging.getLogger(__name__)

_LOCK = 0x5649_4749_4B50  # advisory lock of plain-mode refreshes
MARK = "readings_daily"
OVERLAP = timedelta(minutes=5)
MAX_AGE = timedelta(minutes=5)  # a KPI read refreshes an aggregate older than this first
DAY_ORIGIN = "2000-01-01 00:00:00+00"

# One day's sums per (patient, metric, device), grouped exactly as the continuous aggregate.
_DAILY_SELECT = f"""
    SELECT date_bin('1 day', r.time, '{DAY_ORIGIN}') AS day, r.patient_id, r.metric, r.device_id,
           count(*) AS n, sum(r.value) AS sum_value,
           sum(CASE WHEN r.value >= 70 AND r.value <= 180 THEN 1 ELSE 0 END) AS n_tir,
           sum(CASE WHEN r.value < 70 THEN 1 ELSE 0 END) AS n_tbr
"""
_UPSERT = """
    ON CONFLICT (patient_id, day, metric, device_id) DO UPDATE SET n = EXCLUDED.n,
        sum_value = EXCLUDED.sum_value, n_tir = EXCLUDED.n_tir, n_tbr = EXCLUDED.n_tbr
"""
_FULL = f"INSERT INTO readings_daily {_DAILY_SELECT} FROM readings r GROUP BY 1, 2, 3, 4 {_UPSERT}"
# `t.day + interval '24 hours'`, not '1 day': a day added to a timestamptz follows the session's
# time zone, so the UTC day on which its clocks go back would span 25 hours (a reading counted
# in two days) and the one on which they go forward 23.
_INCREMENTAL = f"""
    WITH touched AS (
        SELECT DISTINCT patient_id, metric, date_bin('1 day', time, '{DAY_ORIGIN}') AS day
        FROM readings WHERE stored_at > %(after)s)
    INSERT INTO readings_daily {_DAILY_SELECT}
    FROM touched t JOIN readings r ON r.patient_id = t.patient_id AND r.metric = t.metric
        AND r.time >= t.day AND r.time < t.day + interval '24 hours'
    GROUP BY 1, 2, 3, 4 {_UPSERT}
"""
# Where TimescaleDB keeps the continuous aggregate's rows (VACUUM does not take the view).
_MATERIALIZATION = """
    SELECT materialization_hypertable_schema, materialization_hypertable_name
    FROM timescaledb_information.continuous_aggregates
    WHERE view_schema = current_schema() AND view_name = 'readings_daily'
"""
_SET_MARK = """
    INSERT INTO kpi_refresh_marks (name, stored_after, at) VALUES (%(n)s, %(after)s, now())
    ON CONFLICT (name) DO UPDATE SET stored_after = EXCLUDED.stored_after, at = EXCLUDED.at
"""


@dataclass(frozen=True, slots=True)
class Refreshed:
    mode: str
    rows: int  # upserted rows (plain mode; -1 when TimescaleDB does not say)


async def storage_mode(conn: AsyncConnection[Any]) -> str:
    cur = await conn.execute("SELECT value FROM vigil_meta WHERE key = 'storage_mode'")
    row = await cur.fetchone()
    return "plain" if row is None else str(row[0])


async def refresh(conn: AsyncConnection[Any], overlap: timedelta = OVERLAP) -> Refreshed | None:
    """Bring `readings_daily` up to date. `conn` must be in autocommit mode (TimescaleDB's
    refresh cannot run inside a transaction). None: another process is refreshing."""
    if not conn.autocommit:
        raise ValueError("refresh needs an autocommit connection")
    if await storage_mode(conn) == "timescaledb":
        return await _refresh_continuous(conn)
    async with conn.transaction():
        cur = await conn.execute("SELECT pg_try_advisory_xact_lock(%s), now()", (_LOCK,))
        locked, started = await cur.fetchone() or (False, None)
        if not locked:
            return None
        cur = await conn.execute(
            "SELECT stored_after FROM kpi_refresh_marks WHERE name = %s", (MARK,)
        )
        mark = await cur.fetchone()
        if mark is None:
            cur = await conn.execute(_FULL)
        else:
            cur = await conn.execute(_INCREMENTAL, {"after": mark[0] - overlap})
        rows = cur.rowcount
        await conn.execute(_SET_MARK, {"n": MARK, "after": started})
    if mark is None:  # the table was just filled: statistics and a visibility map for the plans
        await conn.execute("VACUUM (ANALYZE) readings_daily")
    return Refreshed("plain", rows)


async def _refresh_continuous(conn: AsyncConnection[Any]) -> Refreshed | None:
    """TimescaleDB refuses a refresh of the aggregate while another one runs (LockNotAvailable,
    at once): that one brings it up to date, as the advisory lock's holder does in plain mode."""
    cur = await conn.execute(
        "SELECT now(), EXISTS (SELECT FROM kpi_refresh_marks WHERE name = %s)", (MARK,)
    )
    started, marked = await cur.fetchone() or (None, False)
    try:
        await conn.execute("CALL refresh_continuous_aggregate('readings_daily', NULL, NULL)")
    except LockNotAvailable:
        return None
    await conn.execute(_SET_MARK, {"n": MARK, "after": started})
    if not marked:  # the first refresh filled it: the same statistics and visibility map
        cur = await conn.execute(_MATERIALIZATION)
        for schema, table in await cur.fetchall():
            await conn.execute(SQL("VACUUM (ANALYZE) {}").format(Identifier(schema, table)))
    return Refreshed("timescaledb", -1)


async def ensure_fresh(conn: AsyncConnection[Any], max_age: timedelta) -> Refreshed | None:
    """Refresh when the last refresh is older than `max_age` (by the database's clock) or
    never happened: what a KPI read calls first. None: fresh enough, or refreshed elsewhere."""
    cur = await conn.execute(
        "SELECT at > now() - %s FROM kpi_refresh_marks WHERE name = %s", (max_age, MARK)
    )
    row = await cur.fetchone()
    if row is not None and row[0]:
        return None
    return await refresh(conn)


@asynccontextmanager
async def autocommit(pool: AsyncConnectionPool) -> AsyncIterator[AsyncConnection[Any]]:
    """A pooled connection in autocommit mode, handed back to the pool as it came."""
    async with pool.connection() as conn:
        await conn.set_autocommit(True)
        try:
            yield conn
        finally:
            await conn.set_autocommit(False)


async def refresh_loop(
    pool: AsyncConnectionPool,
    interval_s: float,
    retriable: tuple[type[BaseException], ...] = (),
) -> None:
    """Refresh every `interval_s` for ever (started beside the program's risk passes). A
    retriable database error skips a turn; any other ends the loop, loudly."""
    while True:
        try:
            async with autocommit(pool) as conn:
                done = await refresh(conn)
            if done is not None and done.rows:
                log.info("kpi aggregate refreshed (%s): %d rows", done.mode, done.rows)
        except retriable as e:
            log.warning("kpi refresh skipped: %s", type(e).__name__)
        await asyncio.sleep(interval_s)


# --- one team's figures -------------------------------------------------------------------------

_PATIENTS = """
WITH spans AS (
    SELECT p.id, COALESCE(pr.enrolled_on, (p.created_at AT TIME ZONE 'UTC')::date) AS since,
           pr.discharged_on AS until
    FROM patients p LEFT JOIN patient_records pr ON pr.patient_id = p.id
    WHERE p.team_id = %(team)s
), enrolled AS (
    SELECT id, LEAST(%(end)s::date, COALESCE(until, %(end)s::date))
               - GREATEST(%(start)s::date, since) + 1 AS enrolled_days
    FROM spans WHERE since <= %(end)s::date AND (until IS NULL OR until >= %(start)s::date)
), per_device AS (
    SELECT d.patient_id, d.metric, d.device_id, sum(d.n) AS n, sum(d.sum_value) AS sum_value,
           sum(d.n_tir) AS n_tir, sum(d.n_tbr) AS n_tbr
    FROM enrolled e JOIN readings_daily d ON d.patient_id = e.id
        AND d.day >= %(t0)s AND d.day < %(t1)s
    WHERE d.metric IN ('systolic_bp', 'diastolic_bp', 'glucose')
    GROUP BY 1, 2, 3
), sums AS (  -- a few rows per patient: the devices and the pivot cost nothing here
    SELECT p.patient_id,
           sum(p.n) FILTER (WHERE p.metric = 'systolic_bp') AS n_sbp,
           sum(p.sum_value) FILTER (WHERE p.metric = 'systolic_bp') AS sum_sbp,
           sum(p.n) FILTER (WHERE p.metric = 'diastolic_bp') AS n_dbp,
           sum(p.sum_value) FILTER (WHERE p.metric = 'diastolic_bp') AS sum_dbp,
           sum(p.n) FILTER (WHERE p.metric = 'glucose') AS n_glucose,
           sum(p.n_tir) FILTER (WHERE p.metric = 'glucose') AS n_tir,
           sum(p.n_tbr) FILTER (WHERE p.metric = 'glucose') AS n_tbr,
           sum(p.n) FILTER (WHERE p.metric = 'glucose' AND dv.kind = 'cgm') AS n_cgm,
           min(dv.expected_cadence_s) FILTER (WHERE p.metric = 'glucose' AND dv.kind = 'cgm')
               AS cgm_cadence_s
    FROM per_device p LEFT JOIN devices dv ON dv.id = p.device_id
    GROUP BY p.patient_id
)
SELECT e.id AS patient_id, e.enrolled_days,
       (SELECT count(DISTINCT d.day) FROM readings_daily d  -- the key's order: index only
        WHERE d.patient_id = e.id AND d.day >= %(t0)s AND d.day < %(t1)s) AS days_with_data,
       COALESCE(s.n_sbp, 0)::bigint AS n_sbp, COALESCE(s.sum_sbp, 0) AS sum_sbp,
       COALESCE(s.n_dbp, 0)::bigint AS n_dbp, COALESCE(s.sum_dbp, 0) AS sum_dbp,
       COALESCE(s.n_glucose, 0)::bigint AS n_glucose, COALESCE(s.n_tir, 0)::bigint AS n_tir,
       COALESCE(s.n_tbr, 0)::bigint AS n_tbr, COALESCE(s.n_cgm, 0)::bigint AS n_cgm,
       s.cgm_cadence_s
FROM enrolled e LEFT JOIN sums s ON s.patient_id = e.id
ORDER BY e.id
"""

# Per alert opened in the period: the highest tier it reached, and how it escalated and ended.
_ALERTS = """
WITH a AS (
    SELECT a.id, a.rule_id, COALESCE(a.outcome, a.status) AS outcome,
           GREATEST(a.tier, COALESCE(max(e.tier), 1)) AS tier,
           bool_or(e.kind = 'deadline_passed') AS by_deadline,
           bool_or(e.kind = 'escalated') AS by_staff
    FROM alerts a JOIN patients p ON p.id = a.patient_id
    LEFT JOIN alert_events e ON e.alert_id = a.id
    WHERE p.team_id = %(team)s AND a.opened_at >= %(t0)s AND a.opened_at < %(t1)s
    GROUP BY a.id
)
SELECT tier, rule_id, outcome, COALESCE(by_deadline, false), COALESCE(by_staff, false), count(*)
FROM a GROUP BY 1, 2, 3, 4, 5
"""

# Per (alert, tier): its first acknowledgement deadline there, when that window opened (the
# deadline minus the ack clock snapshotted on the alert) and the first acknowledgement there.
_WINDOWS = """
WITH w AS (
    SELECT e.alert_id, e.tier,
           ((array_agg(e.payload->>'deadline' ORDER BY e.seq)
               FILTER (WHERE e.payload->>'due' = 'ack'))[1])::timestamptz AS deadline,
           min(e.at) FILTER (WHERE e.payload->>'due' = 'ack') AS first_at,
           min(e.at) FILTER (WHERE e.kind = 'acknowledged') AS acked_at,
           (a.escalation->'clocks'->a.severity->(e.tier::text)->>0)::float8 AS ack_s
    FROM alert_events e JOIN alerts a ON a.id = e.alert_id
    JOIN patients p ON p.id = a.patient_id
    WHERE p.team_id = %(team)s AND e.tier IN (2, 3) AND a.opened_at < %(t1)s
    GROUP BY e.alert_id, e.tier, a.severity, a.escalation
)
SELECT tier, COALESCE(deadline - make_interval(secs => ack_s), first_at) AS opened_at,
       deadline, acked_at
FROM w
WHERE deadline IS NOT NULL
  AND COALESCE(deadline - make_interval(secs => ack_s), first_at) >= %(t0)s
  AND COALESCE(deadline - make_interval(secs => ack_s), first_at) < %(t1)s
"""

_CALLBACKS = """
SELECT due_at, completed_at, status = 'done' FROM care_tasks
WHERE team_id = %(team)s AND kind = 'callback' AND created_at >= %(t0)s AND created_at < %(t1)s
"""

_FOLLOW_UP = """
WITH planned AS (
    SELECT DISTINCT patient_id FROM care_tasks
    WHERE team_id = %(team)s AND kind = 'follow_up_call'
      AND due_at >= %(t0)s AND due_at < %(t1)s AND due_at <= %(now)s)
SELECT count(*), count(*) FILTER (WHERE EXISTS (
    SELECT 1 FROM follow_up_records r WHERE r.patient_id = planned.patient_id
      AND r.at >= %(t0)s AND r.at < %(t1)s AND r.outcome IN ('reached', 'visit_booked')))
FROM planned
"""


def _params(team_id: str, period: k.Period, now: datetime) -> dict[str, Any]:
    t0 = datetime.combine(period.start, time(), UTC)
    t1 = datetime.combine(period.end + timedelta(days=1), time(), UTC)
    return {"team": team_id, "start": period.start, "end": period.end, "t0": t0, "t1": t1,
            "now": now}  # fmt: skip


async def patient_sums(
    conn: AsyncConnection[Any], team_id: str, period: k.Period, now: datetime
) -> list[k.PatientSums]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(_PATIENTS, _params(team_id, period, now))
    return [k.PatientSums(**row) for row in await cur.fetchall()]


async def alert_counts(
    conn: AsyncConnection[Any], team_id: str, period: k.Period, now: datetime
) -> k.AlertCounts:
    cur = await conn.execute(_ALERTS, _params(team_id, period, now))
    by_tier: dict[int, int] = {}
    by_rule: dict[str, int] = {}
    outcomes: dict[str, int] = {}
    deadline = staff = 0
    for tier, rule, outcome, by_deadline, by_staff, n in await cur.fetchall():
        by_tier[tier] = by_tier.get(tier, 0) + n
        by_rule[rule] = by_rule.get(rule, 0) + n
        outcomes[outcome] = outcomes.get(outcome, 0) + n
        deadline += n if by_deadline else 0
        staff += n if by_staff else 0
    resolved = sum(n for o, n in outcomes.items() if o not in ("open", "acknowledged"))
    return k.AlertCounts(by_tier, by_rule, resolved, outcomes.get("false_alarm", 0), outcomes,
                         deadline, staff)  # fmt: skip


async def load(conn: AsyncConnection[Any], team_id: str, period: k.Period, now: datetime) -> k.Kpis:
    """One team's KPIs from the aggregate as it stands (call `ensure_fresh` first)."""
    params = _params(team_id, period, now)
    patients = await patient_sums(conn, team_id, period, now)
    counts = await alert_counts(conn, team_id, period, now)
    cur = await conn.execute(_WINDOWS, params)
    windows = [k.AckWindow(*row) for row in await cur.fetchall()]
    cur = await conn.execute(_CALLBACKS, params)
    callbacks = [k.Callback(*row) for row in await cur.fetchall()]
    cur = await conn.execute(_FOLLOW_UP, params)
    planned, covered = await cur.fetchone() or (0, 0)
    return k.compute(team_id, period, now, patients, counts, windows, callbacks,
                     k.Share(covered, planned))  # fmt: skip


async def team_kpis(
    pool: AsyncConnectionPool,
    team_id: str,
    period: k.Period,
    clock: Callable[[], datetime],
    max_age: timedelta = MAX_AGE,
) -> k.Kpis:
    """Refresh the aggregate if stale, then read the team's KPIs in one snapshot."""
    async with autocommit(pool) as conn:
        await ensure_fresh(conn, max_age)
    async with pool.connection() as conn:
        return await read(conn, team_id, period, clock())


async def read(conn: AsyncConnection[Any], team_id: str, period: k.Period, now: datetime) -> k.Kpis:
    """`load` in one read-only snapshot, with room to aggregate a large team in memory."""
    async with conn.transaction():
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        await conn.execute("SET LOCAL work_mem = '64MB'")
        return await load(conn, team_id, period, now)
