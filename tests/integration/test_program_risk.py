"""Risk tags from stored data, tier history and review tasks (program.recompute on real
PostgreSQL), each tag on a hand-computed scenario at a fixed `now`."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from api import registry
from program import repository as repo
from program.recompute import one_pass, recompute
from program.records import Condition

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]

NOW = datetime(2026, 6, 15, 12, tzinfo=UTC)
Conn = psycopg.AsyncConnection[Any]


async def reading(conn: Conn, pid: str, metric: str, value: float, at: datetime) -> None:
    await conn.execute(
        "INSERT INTO readings (time, device_id, seq, metric, patient_id, value, unit, orig_value,"
        " orig_unit, received_at) VALUES (%s, 'dev', %s, %s, %s, %s, 'u', %s, 'u', %s)",
        (at, int(at.timestamp() * 1000), metric, pid, value, value, at),
    )


async def bp(conn: Conn, pid: str, pairs: list[tuple[float, float]]) -> None:
    for i, (sys, dia) in enumerate(pairs):  # twice a day, going back from 1 h before NOW
        at = NOW - timedelta(hours=1 + 12 * i)
        await reading(conn, pid, "systolic_bp", sys, at)
        await reading(conn, pid, "diastolic_bp", dia, at)


async def cgm(conn: Conn, pid: str, low: int, high: int, total: int) -> None:
    """`total` 5-minute CGM values over the last 14 days: `low` at 60, `high` at 250, rest 120."""
    values = [60.0] * low + [250.0] * high + [120.0] * (total - low - high)
    await conn.execute(
        "INSERT INTO readings (time, device_id, seq, metric, patient_id, value, unit, orig_value,"
        " orig_unit, received_at) SELECT %(now)s - interval '5 minutes' * i, 'cgm', i,"
        " 'glucose', %(pid)s, v, 'mg/dL', v, 'mg/dL', %(now)s"
        " FROM unnest(%(v)s::float8[]) WITH ORDINALITY AS u(v, i)",
        {"now": NOW, "pid": pid, "v": values},
    )


async def uncontrolled_bp(conn: Conn, pid: str) -> None:
    # 6 readings: systolic mean (130*3 + 142*3) / 6 = 136 >= 135; diastolic mean 80
    await bp(conn, pid, [(130, 80)] * 3 + [(142, 80)] * 3)


async def controlled_bp(conn: Conn, pid: str) -> None:
    # mean (130*3 + 139*3) / 6 = 134.5 < 135; diastolic (84*6)/6 = 84 < 85
    await bp(conn, pid, [(130, 84)] * 3 + [(139, 84)] * 3)


async def tbr_high(conn: Conn, pid: str) -> None:
    await cgm(conn, pid, low=150, high=0, total=3000)  # 150/3000 = 5 % below 70: > 4 %


async def tir_low(conn: Conn, pid: str) -> None:
    await cgm(conn, pid, low=0, high=1000, total=3000)  # in range 2000/3000 = 66.7 % < 70 %


async def tir_ok(conn: Conn, pid: str) -> None:
    await cgm(conn, pid, low=120, high=780, total=3000)  # TBR 4.0 %, TIR 70.0 %: on target


async def hypo_l2(conn: Conn, pid: str) -> None:
    await reading(conn, pid, "glucose", 52.0, NOW - timedelta(days=29))


async def hypo_old(conn: Conn, pid: str) -> None:
    await reading(conn, pid, "glucose", 50.0, NOW - timedelta(days=31))  # outside 30 days


async def hf_gain(conn: Conn, pid: str) -> None:
    await repo.add_condition(conn, pid, Condition("icd10", "I50.9", "Heart failure"), "dr",
                             NOW - timedelta(days=90))  # fmt: skip
    for d, kg in ((2.5, 80.0), (1.5, 81.2), (0.5, 82.1)):  # +2.1 kg in 2 days
        await reading(conn, pid, "weight", kg, NOW - timedelta(days=d))


async def hf_gain_no_hf(conn: Conn, pid: str) -> None:
    for d, kg in ((2.5, 80.0), (0.5, 83.0)):
        await reading(conn, pid, "weight", kg, NOW - timedelta(days=d))


async def news2(conn: Conn, pid: str, score: float, hours: float) -> None:
    at = NOW - timedelta(hours=hours)
    await conn.execute(
        "INSERT INTO detections (id, patient_id, rule_id, kind, severity, late, device_id, seq,"
        " metric, value, unit, measured_at, rule_version) VALUES (%s, %s, 'news2.medium',"
        " 'fired', 'high', false, 'dev', 1, 'news2', %s, '{score}', %s, 'test')",
        (uuid.uuid4(), pid, score, at),
    )


async def alert(conn: Conn, pid: str, severity: str, outcome: str | None, days: float) -> None:
    at = NOW - timedelta(days=days)
    await conn.execute(
        "INSERT INTO alerts (id, patient_id, rule_id, title, severity, status, metric, unit,"
        " worse, first_value, last_value, worst_value, opened_at, last_seen_at, resolved_at,"
        " outcome) VALUES (%s, %s, 'r', 't', %s, %s, 'spo2', '%%', 'lower', 88, 88, 88, %s, %s,"
        " %s, %s)",
        (uuid.uuid4(), pid, severity, "resolved" if outcome else "open", at, at,
         at if outcome else None, outcome),
    )  # fmt: skip


async def silent(conn: Conn, pid: str, days: float) -> None:
    await repo.apply_template(conn, pid, "hypertension", "admin", NOW - timedelta(days=60))
    await reading(conn, pid, "systolic_bp", 120.0, NOW - timedelta(days=days))


async def wearable_only(conn: Conn, pid: str) -> None:
    await silent(conn, pid, 4)  # the plan's BP 4 days ago; heart rate an hour ago is not in it
    await reading(conn, pid, "heart_rate", 70.0, NOW - timedelta(hours=1))


Setup = Callable[[Conn, str], Awaitable[None]]
SCENARIOS: list[tuple[str, Setup, set[str], str]] = [
    ("bp 136/80 over 6 readings", uncontrolled_bp, {"uncontrolled_bp"}, "medium"),
    ("bp 134.5/84", controlled_bp, set(), "low"),
    ("TBR 5 %", tbr_high, {"glucose_below_range"}, "medium"),
    ("TIR 66.7 %", tir_low, {"glucose_low_time_in_range"}, "medium"),
    ("TBR 4 %, TIR 70 %", tir_ok, set(), "low"),
    ("glucose 52 29 days ago", hypo_l2, {"level2_hypo"}, "high"),
    ("glucose 50 31 days ago", hypo_old, set(), "low"),
    ("HF +2.1 kg in 2 days", hf_gain, {"hf_weight_gain"}, "high"),
    ("+3 kg without heart failure", hf_gain_no_hf, set(), "low"),
    ("NEWS2 5 23 h ago", lambda c, p: news2(c, p, 5, 23), {"news2_high"}, "high"),
    ("NEWS2 6 25 h ago", lambda c, p: news2(c, p, 6, 25), set(), "low"),
    ("open critical alert", lambda c, p: alert(c, p, "critical", None, 1), {"open_high_alert"},
     "high"),
    ("open moderate alert", lambda c, p: alert(c, p, "moderate", None, 1), set(), "low"),
    ("referred 10 days ago", lambda c, p: alert(c, p, "high", "referred", 10),
     {"recent_hospitalisation"}, "high"),
    ("referred 40 days ago", lambda c, p: alert(c, p, "high", "referred", 40), set(), "low"),
    ("daily plan, silent 3.5 days (grace 3)", lambda c, p: silent(c, p, 3.5), {"not_measuring"},
     "medium"),
    ("daily plan, silent 2 days", lambda c, p: silent(c, p, 2), set(), "low"),
    ("daily plan, silent 40 days", lambda c, p: silent(c, p, 40), {"not_measuring"}, "medium"),
    ("daily BP plan, only a wearable for 4 days", wearable_only, {"not_measuring"}, "medium"),
]  # fmt: skip


async def patient(conn: Conn, tag: str, n: int = 0) -> str:
    await registry.upsert_team(conn, f"{tag}-t", "Team")
    pid = f"{tag}-p{n}"
    await registry.upsert_patient(conn, pid, f"{tag}-t", "P")
    return pid


@pytest.mark.parametrize(
    ("name", "setup", "tags", "tier"), SCENARIOS, ids=[s[0] for s in SCENARIOS]
)
async def test_each_tag_from_stored_data(
    aconn: Conn, tag: str, name: str, setup: Setup, tags: set[str], tier: str
) -> None:
    pid = await patient(aconn, tag)
    await setup(aconn, pid)
    await recompute(aconn, NOW, [pid])
    cur = await aconn.execute("SELECT tier, tags FROM patient_risk WHERE patient_id = %s", (pid,))
    row = await cur.fetchone()
    assert row is not None and (row[0], set(row[1])) == (tier, tags)


async def test_tier_history_and_one_review_task_per_rise_to_high(aconn: Conn, tag: str) -> None:
    pid = await patient(aconn, tag)
    await uncontrolled_bp(aconn, pid)
    first = await recompute(aconn, NOW)
    assert (first.changed, first.reviews_opened) == (1, 0)  # medium: no review
    await news2(aconn, pid, 7, 2)
    later = NOW + timedelta(minutes=5)
    assert (await recompute(aconn, later, [pid])).reviews_opened == 1
    again = await recompute(aconn, later + timedelta(minutes=5))  # nothing new: no change
    assert (again.changed, again.reviews_opened) == (0, 0)
    cur = await aconn.execute(
        "SELECT previous_tier, tier, tags FROM risk_history WHERE patient_id = %s ORDER BY id",
        (pid,),
    )
    assert await cur.fetchall() == [
        (None, "medium", ["uncontrolled_bp"]),
        ("medium", "high", ["uncontrolled_bp", "news2_high"]),
    ]
    cur = await aconn.execute(
        "SELECT kind, owner_role, status, due_at FROM care_tasks WHERE patient_id = %s", (pid,)
    )
    assert await cur.fetchall() == [("risk_review", "nurse", "open", later + timedelta(hours=24))]
    cur = await aconn.execute(
        "SELECT count(*) FROM audit_log WHERE resource = 'task' AND patient_id = %s", (pid,)
    )
    assert await cur.fetchone() == (1,)


async def test_a_pass_after_the_first_assesses_only_patients_with_news(
    dsn: str, aconn: Conn, tag: str
) -> None:
    quiet, busy = await patient(aconn, tag, 0), await patient(aconn, tag, 1)
    await controlled_bp(aconn, quiet)
    async with AsyncConnectionPool(dsn, min_size=1, max_size=2, open=False) as pool:
        first = await one_pass(pool, NOW, full=False, overlap=timedelta(0))  # no mark: everyone
        assert first is not None and first.assessed == 2
        nothing = await one_pass(pool, NOW + timedelta(minutes=1), full=False,
                                 overlap=timedelta(0))  # fmt: skip
        assert nothing is not None and nothing.assessed == 0  # readings older than the mark
        await news2(aconn, busy, 6, 0)
        await alert(aconn, busy, "critical", None, 0)  # an alert event names the patient
        await aconn.execute(
            "INSERT INTO alert_events (event_id, alert_id, patient_id, kind, at)"
            " SELECT gen_random_uuid(), id, patient_id, 'opened', %s FROM alerts",
            (NOW,),
        )
        later = NOW + timedelta(minutes=2)
        news = await one_pass(pool, later, full=False, overlap=timedelta(0))
        assert news is not None and (news.assessed, news.changed, news.reviews_opened) == (1, 1, 1)
