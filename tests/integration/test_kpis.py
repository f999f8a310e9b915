"""Program KPIs on real PostgreSQL (issue 13, part 2): the figures of a fixed team against values
computed by hand, the plain-mode aggregate against a computation from the raw readings (also
after a late reading for an old day), and the same numbers with TimescaleDB's continuous
aggregate where the extension is installed."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg import AsyncConnection
from psycopg.conninfo import make_conninfo
from psycopg_pool import AsyncConnectionPool

from reports import kpi_queries as q
from reports import kpis as k
from tests.integration.conftest import Databases, eventually, timescaledb_available
from tests.integration.kpi_world import (
    NOW,
    PERIOD,
    T0,
    World,
    ack_due,
    alert,
    bp_days,
    cgm_day,
)
from vigil.settings import Settings

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(120)]
H = timedelta(hours=1)
PATIENTS = ["p-bp-ok", "p-bp-edge", "p-bp-few", "p-tir-70", "p-tbr-4", "p-cgm-ok", "p-meter",
            "p-idle"]  # fmt: skip


def hourly(day: datetime, values: list[float]) -> list[tuple[datetime, str, float]]:
    return cgm_day(day, values, every_s=3600)


def cgm_days(
    start: datetime, in_range: int, low: int, high: int
) -> list[tuple[datetime, str, float]]:
    """600 hourly readings over 25 days: `in_range` at 120, `low` at 60, `high` at 200."""
    values = [120.0] * in_range + [60.0] * low + [200.0] * high
    assert len(values) == 600
    return [
        r
        for d in range(25)
        for r in hourly(start + timedelta(days=d), values[d * 24 : d * 24 + 24])
    ]


async def seed(conn: AsyncConnection[Any], team: str) -> World:
    w = World(team)
    await w.setup(conn, [f"{team}-{p}" for p in PATIENTS] + [f"{team}-p-gone"])
    await conn.execute(
        "INSERT INTO patient_records (patient_id, enrolled_on, discharged_on)"
        " VALUES (%s, '2026-08-01', '2026-10-15')",
        (f"{team}-p-gone",),
    )
    pid = {p: f"{team}-{p}" for p in PATIENTS}
    for p in PATIENTS:
        await w.device(conn, f"{team}-{p}-bp", "bp_cuff", 86400)
        await w.device(conn, f"{team}-{p}-cgm", "cgm", 3600)
        await w.device(conn, f"{team}-{p}-gm", "glucometer", None)
    await w.add(conn, pid["p-bp-ok"], f"{team}-p-bp-ok-bp", bp_days(T0, 14, 134, 84))
    await w.add(conn, pid["p-bp-edge"], f"{team}-p-bp-edge-bp", bp_days(T0, 14, 135, 80))
    await w.add(conn, pid["p-bp-few"], f"{team}-p-bp-few-bp", bp_days(T0, 5, 120, 70))
    await w.add(conn, pid["p-tir-70"], f"{team}-p-tir-70-cgm", cgm_days(T0, 420, 0, 180))
    await w.add(conn, pid["p-tbr-4"], f"{team}-p-tbr-4-cgm", cgm_days(T0, 576, 24, 0))
    await w.add(conn, pid["p-cgm-ok"], f"{team}-p-cgm-ok-cgm", cgm_days(T0, 500, 18, 82))
    meter = [(T0 + timedelta(days=d, hours=7), "glucose", 110.0) for d in range(10)]
    await w.add(conn, pid["p-meter"], f"{team}-p-meter-gm", meter)
    await w.add(conn, f"{team}-p-gone", f"{team}-p-bp-ok-bp", [(T0, "systolic_bp", 190.0)])
    await alerts_and_tasks(conn, team, pid)
    return w


async def alerts_and_tasks(conn: AsyncConnection[Any], team: str, pid: dict[str, str]) -> None:
    p = pid["p-bp-ok"]
    d5, d6, d7 = (T0 + timedelta(days=n, hours=10) for n in (4, 5, 6))
    a1 = await alert(conn, p, "bp_high", d5, "high", [
        ("opened", d5, 2, ack_due(d5 + H)),
        ("acknowledged", d5 + H / 2, 2, {"due": "resolution"}),  # 30 min: on time
        ("resolved", d5 + 2 * H, 2, {}),
    ], outcome="false_alarm")  # fmt: skip
    a2 = await alert(conn, p, "bp_high", d6, "high", [
        ("opened", d6, 2, ack_due(d6 + H)),
        ("acknowledged", d6 + 1.5 * H, 2, {"due": "resolution"}),  # 90 min: late
        ("resolved", d6 + 2 * H, 2, {}),
    ], outcome="advice_given")  # fmt: skip
    a3 = await alert(conn, p, "glucose_low", d7, "high", [
        ("opened", d7, 2, ack_due(d7 + H)),
        ("deadline_passed", d7 + H, 3, ack_due(d7 + 5 * H)),  # missed at 2; 4 h at tier 3
        ("acknowledged", d7 + 2 * H, 3, {"due": "resolution"}),  # 1 h into tier 3: on time
        ("resolved", d7 + 3 * H, 3, {}),
    ], outcome="callback_done")  # fmt: skip
    await alert(conn, p, "glucose_low_l1", d7, "moderate", [
        ("opened", d7, 1, {"due": "remeasure", "deadline": (d7 + H / 4).isoformat()}),
        ("resolved", d7 + H / 4, 1, {}),
    ], outcome="auto_resolved")  # fmt: skip
    tasks = [  # (alert, kind, patient, due, completed, status, created)
        (a3, "callback", p, d7 + 48 * H, d7 + 40 * H, "done", d7),  # on time
        (a2, "callback", p, d6 + 48 * H, d6 + 50 * H, "done", d6),  # late
        (a1, "callback", p, NOW + 48 * H, None, "open", NOW - H),  # not due yet
        (None, "follow_up_call", p, T0 + timedelta(days=9), None, "open", T0),
        (None, "follow_up_call", pid["p-bp-edge"], T0 + timedelta(days=11), None, "open", T0),
        (None, "follow_up_call", pid["p-idle"], NOW + 48 * H, None, "open", T0),  # after
    ]
    for i, (aid, kind, patient, due, done_at, status, created) in enumerate(tasks):
        await conn.execute(
            "INSERT INTO care_tasks (id, patient_id, team_id, kind, owner_role, due_at, status,"
            " alert_id, created_at, created_by, completed_at) VALUES (md5(%s)::uuid, %s, %s, %s,"
            " 'nurse', %s, %s, %s, %s, 'test', %s)",
            (f"{team}{i}", patient, team, kind, due, status, aid, created, done_at),
        )
    for patient, outcome in ((p, "reached"), (pid["p-bp-edge"], "not_reached")):
        await conn.execute(
            "INSERT INTO follow_up_records (id, patient_id, at, recorded_by, contact_type,"
            " outcome) VALUES (md5(%s)::uuid, %s, %s, 'n1', 'phone', %s)",
            (patient, patient, T0 + timedelta(days=10), outcome),
        )


async def refreshed_kpis(dsn: str, team: str) -> k.Kpis:
    async with await AsyncConnection.connect(dsn, autocommit=True) as conn:
        assert await q.refresh(conn) is not None
        return await q.load(conn, team, PERIOD, NOW)


async def seeded(dsn: str, team: str) -> World:
    async with await AsyncConnection.connect(dsn, autocommit=True) as conn:
        return await seed(conn, team)


async def test_a_teams_kpis_match_the_figures_computed_by_hand(dsn: str, tag: str) -> None:
    await seeded(dsn, tag)
    f = (await refreshed_kpis(dsn, tag)).as_json()

    pop = f["patients"]
    assert (pop["enrolled"], pop["active"], pop["patient_days"]) == (8, 7, 240)  # not p-gone
    assert pop["days_needed"] == 16
    assert pop["reaching_days_needed"] == {"n": 3, "of": 8, "pct": 37.5}  # the CGM patients
    assert pop["bp_controlled"] == {"n": 1, "of": 2, "pct": 50.0}  # 134/84 yes, 135/80 no
    assert pop["glucose_controlled"] == {"n": 1, "of": 3, "pct": 33.3}  # TIR 70, TBR 4 fail
    alerts = f["alerts"]
    assert alerts["alerts"] == 4
    assert alerts["by_tier"] == {"1": {"n": 1, "per_patient_day": round(1 / 240, 4)},
                                 "2": {"n": 2, "per_patient_day": round(2 / 240, 4)},
                                 "3": {"n": 1, "per_patient_day": round(1 / 240, 4)}}  # fmt: skip
    assert alerts["by_rule"]["bp_high"]["n"] == 2
    assert alerts["false_alarm"] == {"n": 1, "of": 4, "pct": 25.0}
    assert alerts["escalated_by_deadline"] == 1
    assert alerts["outcomes"] == {"advice_given": 1, "auto_resolved": 1, "callback_done": 1,
                                  "false_alarm": 1}  # fmt: skip
    tier2, tier3 = f["response"]["by_tier"]["2"], f["response"]["by_tier"]["3"]
    assert (tier2["acknowledged"], tier2["ack_median_s"], tier2["ack_p90_s"]) == (2, 3600, 5040)
    assert tier2["within_deadline"] == {"n": 1, "of": 3, "pct": 33.3}  # on time, late, missed
    assert (tier3["acknowledged"], tier3["ack_median_s"]) == (1, 3600)
    assert tier3["within_deadline"] == {"n": 1, "of": 1, "pct": 100.0}
    assert f["response"]["callbacks_within_deadline"] == {"n": 1, "of": 2, "pct": 50.0}
    assert f["follow_up_coverage"] == {"n": 1, "of": 2, "pct": 50.0}


def table(dsn: str) -> dict[tuple[datetime, str, str, str], tuple[int, float, int, int]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT day, patient_id, metric, device_id, n, sum_value, n_tir, n_tbr"
            " FROM readings_daily"
        ).fetchall()
    return {(r[0], r[1], r[2], r[3]): (r[4], r[5], r[6], r[7]) for r in rows}


async def test_the_plain_aggregate_equals_the_raw_readings_and_takes_late_ones(
    dsn: str, tag: str
) -> None:
    w = await seeded(dsn, tag)
    patients = [f"{tag}-{p}" for p in PATIENTS]
    async with await AsyncConnection.connect(dsn, autocommit=True) as conn:
        assert await q.refresh(conn) == q.Refreshed("plain", len(w.daily_from_raw()))
        assert table(dsn) == w.daily_from_raw()
        before = await q.patient_sums(conn, tag, PERIOD, NOW)
        assert before == w.sums_from_raw(patients, PERIOD)

        # A reading measured on day 3, stored only now (a device's backlog), and one for today.
        late = [(T0 + timedelta(days=2, hours=12), "systolic_bp", 200.0),
                (T0 + timedelta(days=2, hours=12), "diastolic_bp", 100.0),
                (T0 + timedelta(days=20, hours=8), "systolic_bp", 120.0)]  # fmt: skip
        await w.add(conn, f"{tag}-p-bp-ok", f"{tag}-p-bp-ok-bp", late)
        again = await q.refresh(conn, overlap=timedelta(0))  # the seed is older than the mark

        assert again == q.Refreshed("plain", 3)  # day 3's SBP and DBP, day 21's SBP: no more
        assert table(dsn) == w.daily_from_raw()
        after = await q.patient_sums(conn, tag, PERIOD, NOW)
        assert after == w.sums_from_raw(patients, PERIOD)
        ok = next(p for p in after if p.patient_id == f"{tag}-p-bp-ok")
        assert (ok.n_sbp, ok.sum_sbp, ok.days_with_data) == (30, 28 * 134 + 320, 15)


async def test_the_plain_refresh_keeps_utc_days_whatever_the_sessions_time_zone(
    dsn: str, tag: str
) -> None:
    """US clocks go back on T0's day (1 November 2026): a session in Los Angeles time recomputes
    the same 24-hour UTC days as one in UTC, counting each reading once."""
    w = await seeded(dsn, tag)
    zoned = make_conninfo(dsn, options="-c TimeZone=America/Los_Angeles")
    async with await AsyncConnection.connect(zoned, autocommit=True) as conn:
        assert await q.refresh(conn) is not None  # the first one aggregates everything at once
        assert await q.refresh(conn, overlap=timedelta(days=3650)) is not None  # day by day
    assert table(dsn) == w.daily_from_raw()


async def test_a_sink_transaction_in_flight_during_a_refresh_is_counted_by_the_next(
    dsn: str, tag: str
) -> None:
    """A reading's `stored_at` is its transaction's start: one that began before a refresh and
    committed after it is older than that refresh's mark, and the overlap still finds it."""
    w = await seeded(dsn, tag)
    async with (
        await AsyncConnection.connect(dsn, autocommit=True) as refresher,
        await AsyncConnection.connect(dsn) as sink,
    ):
        assert await q.refresh(refresher) is not None
        late = [(T0 + timedelta(days=4, hours=12), "systolic_bp", 210.0)]
        await w.add(sink, f"{tag}-p-bp-ok", f"{tag}-p-bp-ok-bp", late)  # not committed yet
        assert await q.refresh(refresher) is not None  # its mark is after the sink's start
        await sink.commit()
        assert table(dsn) != w.daily_from_raw()  # the reading is stored, not yet aggregated
        assert await q.refresh(refresher) is not None
        assert table(dsn) == w.daily_from_raw()


async def test_ensure_fresh_refreshes_only_when_stale(dsn: str, tag: str) -> None:
    await seeded(dsn, tag)
    async with await AsyncConnection.connect(dsn, autocommit=True) as conn:
        first = await q.ensure_fresh(conn, timedelta(minutes=5))
        assert first is not None and first.rows > 0  # never refreshed: it does
        assert await q.ensure_fresh(conn, timedelta(minutes=5)) is None  # fresh: it does not
        assert await q.ensure_fresh(conn, timedelta(0)) is not None


async def test_the_refresh_loop_keeps_the_aggregate_current(dsn: str, tag: str) -> None:
    w = await seeded(dsn, tag)
    async with AsyncConnectionPool(dsn, min_size=1, max_size=1, open=False) as pool:
        loop = asyncio.create_task(q.refresh_loop(pool, interval_s=0.05))
        try:
            assert await eventually(lambda: _holds(dsn, w))
        finally:
            loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop
        async with pool.connection() as conn:  # handed back to the pool as it came
            assert not conn.autocommit


async def _holds(dsn: str, w: World) -> bool:
    return table(dsn) == w.daily_from_raw()


async def test_timescaledb_and_plain_give_the_same_numbers(
    settings: Settings, databases: Databases, tag: str
) -> None:
    if not timescaledb_available(settings):
        pytest.skip("the timescaledb extension is not installed in this PostgreSQL")
    plain, ts = databases.create(tag, "plain"), databases.create(tag, "timescaledb")
    for dsn in (plain, ts):
        await seeded(dsn, tag)
    assert (await refreshed_kpis(ts, tag)).figures == (await refreshed_kpis(plain, tag)).figures
    for dsn in (plain, ts):  # a late reading for an old day reaches both after a refresh
        async with await AsyncConnection.connect(dsn, autocommit=True) as conn:
            w = World(tag, seq=10**6)
            await w.add(conn, f"{tag}-p-bp-ok", f"{tag}-p-bp-ok-bp",
                        [(T0 + timedelta(days=2, hours=12), "systolic_bp", 200.0)])  # fmt: skip
    assert (await refreshed_kpis(ts, tag)).figures == (await refreshed_kpis(plain, tag)).figures


async def test_a_refresh_while_another_runs_yields_to_it_in_timescaledb_mode(
    settings: Settings, databases: Databases, tag: str
) -> None:
    """TimescaleDB refuses a concurrent refresh of the aggregate: the second refresh returns
    None (as plain mode's advisory lock does) instead of failing a KPI read. The first refresh
    is held in flight by a lock on the aggregate's materialisation table."""
    if not timescaledb_available(settings):
        pytest.skip("the timescaledb extension is not installed in this PostgreSQL")
    dsn = databases.create(tag, "timescaledb")
    await seeded(dsn, tag)
    async with (
        await AsyncConnection.connect(dsn) as holder,
        await AsyncConnection.connect(dsn, autocommit=True) as first,
        await AsyncConnection.connect(dsn, autocommit=True) as second,
    ):
        await holder.execute(f"LOCK TABLE {await _materialization(holder)} IN EXCLUSIVE MODE")
        running = asyncio.create_task(q.refresh(first))
        try:
            assert await eventually(lambda: _waits_for_a_lock(second, first.info.backend_pid))
            assert await q.refresh(second) is None
        finally:  # release the first refresh whatever happened, or closing would wait for it
            await holder.commit()
            done = await running
        assert done == q.Refreshed("timescaledb", -1)
    assert (await refreshed_kpis(dsn, tag)).figures["patients"]["enrolled"] > 0


async def _materialization(conn: AsyncConnection[Any]) -> str:
    cur = await conn.execute(
        "SELECT format('%I.%I', materialization_hypertable_schema, materialization_hypertable_name)"
        " FROM timescaledb_information.continuous_aggregates WHERE view_name = 'readings_daily'"
    )
    row = await cur.fetchone()
    assert row is not None
    return str(row[0])


async def _waits_for_a_lock(conn: AsyncConnection[Any], pid: int) -> bool:
    cur = await conn.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,))
    row = await cur.fetchone()
    return row is not None and row[0] == "Lock"


async def test_the_first_timescaledb_refresh_leaves_statistics_for_the_kpi_plans(
    settings: Settings, databases: Databases, tag: str
) -> None:
    """As in plain mode, the first refresh vacuums and analyses what it filled (the
    materialisation hypertable's chunks); a KPI read planned without took twice as long."""
    if not timescaledb_available(settings):
        pytest.skip("the timescaledb extension is not installed in this PostgreSQL")
    dsn = databases.create(tag, "timescaledb")
    await seeded(dsn, tag)
    async with await AsyncConnection.connect(dsn, autocommit=True) as conn:
        assert await _unvacuumed_chunks(conn) == (0, 0)  # WITH NO DATA: nothing yet
        assert await q.refresh(conn) is not None
        chunks, unvacuumed = await _unvacuumed_chunks(conn)
        assert chunks > 0 and unvacuumed == 0


async def _unvacuumed_chunks(conn: AsyncConnection[Any]) -> tuple[int, int]:
    """(chunks of the aggregate's materialisation, those never vacuumed and analysed)."""
    cur = await conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE s.last_vacuum IS NULL OR s.last_analyze IS NULL)"
        " FROM timescaledb_information.chunks c"
        " JOIN timescaledb_information.continuous_aggregates a"
        "   ON a.materialization_hypertable_name = c.hypertable_name"
        " JOIN pg_stat_user_tables s ON s.relid = format('%I.%I', c.chunk_schema, c.chunk_name)::regclass"
        " WHERE a.view_name = 'readings_daily'"
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row[0]), int(row[1])
