"""The three-tier response on real PostgreSQL, on a fake clock (no sleeps): entry tiers, pages,
patient prompts, deadlines fired exactly once, the doctor's 48-hour callback, nobody on call,
actions and their refusals, and deadlines that survive a restart."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from typing import Any

import psycopg
import pytest
import pytest_asyncio
from psycopg_pool import AsyncConnectionPool

from alerts._tx import DirectTx
from alerts.actions import (
    Acknowledge,
    ActionRefusedError,
    Actor,
    AlertNotFoundError,
    Assign,
    Comment,
    Escalate,
    InvalidActionError,
    Resolve,
    Snooze,
)
from alerts.escalation import Outcome
from alerts.repository import PgAlertStore
from alerts.response import PgResponse
from alerts.silences import add_silence
from alerts.timers import DeadlineTimers
from api.registry import upsert_patient, upsert_staff, upsert_team
from ingest.contract.units import MG_DL_PER_MMOL_L
from stream.detections import Detection, Kind, Severity, Worse, detection_id
from stream.rules import DEFAULT_RULES

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
NURSE = Actor("n1", "nurse", frozenset({"A"}))
DOCTOR = Actor("d1", "doctor", frozenset({"A"}))
OTHER_TEAM = Actor("n9", "nurse", frozenset({"B"}))


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


RULES = {  # rule id -> (severity, metric, unit, worse)
    "bp.crisis": (Severity.CRITICAL, "systolic_bp", "mm[Hg]", Worse.HIGHER),
    "spo2.severe": (Severity.HIGH, "spo2", "%", Worse.LOWER),
    "glucose.high": (Severity.HIGH, "glucose", "mg/dL", Worse.HIGHER),
    "glucose.level1_low": (Severity.HIGH, "glucose", "mg/dL", Worse.LOWER),
    "bp.uncontrolled": (Severity.MODERATE, "systolic_bp", "mm[Hg]", Worse.HIGHER),
}
# As the operator sets it: the rule table says which values are dangerous on their own.
DANGEROUS = frozenset(r.id for r in DEFAULT_RULES.thresholds if r.dangerous)


def det(
    rule: str, seq: int, value: float, kind: Kind = Kind.FIRED, patient: str = "p1"
) -> Detection:
    severity, metric, unit, worse = RULES[rule]
    return Detection(
        id=detection_id(rule, patient, "dev-1", seq, metric, kind), rule_id=rule, title=rule,
        severity=severity, worse=worse, patient_id=patient, device_id="dev-1", seq=seq,
        metric=metric, value=value, unit=unit, measured_at=T0 + timedelta(seconds=seq), kind=kind,
        dangerous=rule in DANGEROUS,
    )  # fmt: skip


ALL_WEEK = (0, 1, 2, 3, 4, 5, 6)


async def roster(conn: psycopg.AsyncConnection[Any], *rows: tuple[str, str]) -> None:
    for staff_id, role in rows:
        await conn.execute(
            "INSERT INTO roster_shifts (team_id, staff_id, role, tz, weekdays, start_time, end_time)"
            " VALUES ('A', %s, %s, 'Asia/Shanghai', %s, %s, %s)",
            (staff_id, role, list(ALL_WEEK), time(0), time(0)),
        )


async def backup(conn: psycopg.AsyncConnection[Any], staff_id: str, role: str) -> None:
    await conn.execute(
        "INSERT INTO roster_backups (team_id, role, position, staff_id) VALUES ('A', %s, 0, %s)",
        (role, staff_id),
    )


class World:
    def __init__(self, dsn: str, pool: AsyncConnectionPool, clock: FakeClock) -> None:
        self.dsn, self.pool, self.clock = dsn, pool, clock
        self.store = PgAlertStore(pool, clock)
        self.response = PgResponse(pool, clock)

    def timers(self) -> DeadlineTimers:
        return DeadlineTimers(self.response, self.dsn, self.clock)

    async def record(self, *detections: Detection) -> None:
        await self.store.record(detections)

    async def alert(self, rule: str = "") -> dict[str, Any]:
        rows = await self.rows(
            "SELECT id, tier, due, deadline, fence, status, outcome, acknowledged_by,"
            " assigned_to, snoozed_until FROM alerts WHERE rule_id LIKE %s ORDER BY opened_at",
            (rule + "%",),
        )
        return rows[-1]

    async def rows(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        async with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=psycopg.rows.dict_row)
            await cur.execute(sql, params)
            return await cur.fetchall()

    async def pages(self) -> list[tuple[int, str | None, bool]]:
        rows = await self.rows("SELECT tier, staff_id, backup FROM pages ORDER BY id")
        return [(r["tier"], r["staff_id"], r["backup"]) for r in rows]

    async def kinds(self) -> list[str]:
        return [r["kind"] for r in await self.rows("SELECT kind FROM alert_events ORDER BY seq")]


@pytest_asyncio.fixture
async def world(dsn: str) -> AsyncIterator[World]:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await upsert_team(conn, "A", "Team A", "Asia/Shanghai")
        await upsert_team(conn, "B", "Team B")
        for staff_id, role in [("n1", "nurse"), ("n2", "nurse"), ("d1", "doctor"),
                               ("d2", "doctor"), ("a1", "admin")]:  # fmt: skip
            await upsert_staff(conn, staff_id, staff_id, role, ["A"])
        await upsert_staff(conn, "n9", "n9", "nurse", ["B"])
        await upsert_patient(conn, "p1", "A", "Patient One")
    async with AsyncConnectionPool(dsn, min_size=1, max_size=4, open=False) as pool:
        yield World(dsn, pool, FakeClock())


async def with_conn(world: World) -> psycopg.AsyncConnection[Any]:
    return await psycopg.AsyncConnection.connect(world.dsn, autocommit=True)


@pytest.mark.parametrize(
    ("rule", "tier", "pages", "messages"),
    [
        ("bp.crisis", 3, [(3, "d1", False), (2, "n1", False)], 0),  # critical: both at once
        ("glucose.high", 2, [(2, "n1", False)], 0),
        ("bp.uncontrolled", 1, [], 1),  # moderate: the patient re-measures first
    ],
)
async def test_severity_decides_the_entry_tier(
    world: World, rule: str, tier: int, pages: list[Any], messages: int
) -> None:
    async with await with_conn(world) as conn:
        await roster(conn, ("n1", "nurse"), ("d1", "doctor"))
    await world.record(det(rule, 1, 200.0))
    alert = await world.alert(rule)
    assert alert["tier"] == tier
    assert alert["due"] == ("remeasure" if tier == 1 else "ack")
    assert await world.pages() == pages
    sent = await world.rows("SELECT template, lang, body FROM patient_messages")
    assert len(sent) == messages


async def test_the_responsible_doctor_comes_first_and_chinese_prompts(world: World) -> None:
    async with await with_conn(world) as conn:
        await roster(conn, ("n1", "nurse"), ("d1", "doctor"))
        await conn.execute("UPDATE patients SET responsible_doctor = 'd2', lang = 'zh'")
    await world.record(det("bp.crisis", 1, 200.0, patient="p1"))
    assert (3, "d2", False) in await world.pages()
    await world.record(det("bp.uncontrolled", 2, 150.0))
    [msg] = await world.rows("SELECT template, lang, body FROM patient_messages")
    assert (msg["template"], msg["lang"]) == ("remeasure", "zh")
    assert "血压" in msg["body"] and "150" in msg["body"]


async def test_an_unacknowledged_tier2_alert_escalates_at_its_deadline_exactly_once(
    world: World,
) -> None:
    async with await with_conn(world) as conn:
        await roster(conn, ("n1", "nurse"), ("d1", "doctor"))
    await world.record(det("glucose.high", 1, 320.0))
    opened = await world.alert()
    assert opened["deadline"] == T0 + timedelta(hours=1)  # HIGH: nurse acks within 1 h
    first, second = world.timers(), world.timers()  # two timer processes
    due = T0 + timedelta(hours=1)
    await first.sweep(due - timedelta(seconds=10))
    await second.sweep(due - timedelta(seconds=10))
    assert await first.fire_due(due - timedelta(seconds=1)) == 0
    world.clock.now = due
    moved = await asyncio.gather(first.fire_due(due), second.fire_due(due))
    assert sum(moved) == 1
    assert await world.response.fire(opened["id"], opened["fence"], due) is False  # stale fence
    escalated = await world.alert()
    assert escalated["tier"] == 3 and escalated["fence"] > opened["fence"]
    assert (await world.kinds()).count("deadline_passed") == 1
    assert await world.pages() == [(2, "n1", False), (3, "d1", False)]


async def test_a_deadline_survives_a_restart(world: World) -> None:
    async with await with_conn(world) as conn:
        await roster(conn, ("n1", "nurse"), ("d1", "doctor"))
    await world.record(det("glucose.high", 1, 320.0))
    restarted = PgResponse(world.pool, world.clock)  # nothing in memory
    assert await restarted.fire_due(T0 + timedelta(hours=2)) == 1
    assert (await world.alert())["tier"] == 3


@pytest.mark.parametrize(
    ("severity_rule", "resolve_within"),
    [("glucose.high", timedelta(hours=48)), ("bp.crisis", timedelta(hours=1))],
)
async def test_the_doctors_callback_deadline(
    world: World, severity_rule: str, resolve_within: timedelta
) -> None:
    async with await with_conn(world) as conn:
        await roster(conn, ("n1", "nurse"), ("d1", "doctor"))
        await backup(conn, "d2", "doctor")
    await world.record(det(severity_rule, 1, 320.0))
    if (await world.alert())["tier"] == 2:
        await world.response.act((await world.alert())["id"], Escalate("needs a doctor"), NURSE)
    acked_at = world.clock.advance(minutes=5)
    view = await world.response.act((await world.alert())["id"], Acknowledge(), DOCTOR)
    assert (view["status"], view["due"]) == ("acknowledged", "resolution")
    assert datetime.fromisoformat(view["deadline"]) == acked_at + resolve_within
    timers = world.timers()
    await timers.sweep(acked_at + resolve_within)
    assert await timers.fire_due(acked_at + resolve_within - timedelta(seconds=1)) == 0
    assert await timers.fire_due(acked_at + resolve_within) == 1
    assert (await world.pages())[-1] == (3, "d2", True)  # no callback in time: the backup


@pytest.mark.parametrize(
    ("backups", "tier", "last_page"),
    [
        ([("n2", "nurse")], 2, (2, "n2", True)),  # nobody on shift: the backup nurse
        ([], 3, (3, "d1", False)),  # no backup either: straight to the doctor
    ],
)
async def test_nobody_on_call(
    world: World, backups: list[tuple[str, str]], tier: int, last_page: tuple[Any, ...]
) -> None:
    async with await with_conn(world) as conn:
        await roster(conn, ("d1", "doctor"))  # no nurse on shift
        for staff_id, role in backups:
            await backup(conn, staff_id, role)
    await world.record(det("glucose.high", 1, 320.0))
    pages = await world.pages()
    assert pages[0] == (2, None, False)  # recorded: nobody was reachable
    assert pages[-1] == last_page
    assert (await world.alert())["tier"] == tier
    assert "nobody_on_call" in await world.kinds()


@pytest.mark.parametrize(
    ("follow_up", "status", "tier", "outcome", "templates"),
    [
        (Kind.CLEARED, "resolved", 1, "auto_resolved", ["remeasure", "advice"]),
        (Kind.FIRED, "open", 2, None, ["remeasure"]),  # the re-measure confirms: the nurse
    ],
)
async def test_tier1_remeasure(
    world: World,
    follow_up: Kind,
    status: str,
    tier: int,
    outcome: str | None,
    templates: list[str],
) -> None:
    async with await with_conn(world) as conn:
        await roster(conn, ("n1", "nurse"), ("d1", "doctor"))
    await world.record(det("bp.uncontrolled", 1, 150.0))
    world.clock.advance(minutes=6)
    await world.record(det("bp.uncontrolled", 2, 128.0 if follow_up is Kind.CLEARED else 152.0,
                           follow_up))  # fmt: skip
    alert = await world.alert()
    assert (alert["status"], alert["tier"], alert["outcome"]) == (status, tier, outcome)
    sent = await world.rows("SELECT template FROM patient_messages ORDER BY created_at, template")
    assert sorted(r["template"] for r in sent) == sorted(templates)


async def test_actions_and_their_refusals(world: World) -> None:
    async with await with_conn(world) as conn:
        await roster(conn, ("n1", "nurse"), ("d1", "doctor"))
    await world.record(det("glucose.high", 1, 320.0))
    alert_id = (await world.alert())["id"]
    act = world.response.act
    with pytest.raises(AlertNotFoundError):
        await act(alert_id, Acknowledge(), OTHER_TEAM)
    with pytest.raises(AlertNotFoundError):
        await act(uuid.uuid4(), Acknowledge(), NURSE)
    with pytest.raises(InvalidActionError):
        await act(alert_id, Assign("n9"), NURSE)  # not on the patient's team
    with pytest.raises(InvalidActionError):
        await act(alert_id, Snooze(T0 - timedelta(hours=1), "later"), NURSE)
    with pytest.raises(InvalidActionError):
        await act(alert_id, Comment("  "), NURSE)
    assert (await act(alert_id, Assign("n2"), NURSE))["assigned_to"] == "n2"
    await act(alert_id, Comment("called the patient"), NURSE)
    until = T0 + timedelta(hours=3)
    snoozed = await act(alert_id, Snooze(until, "patient eating"), NURSE)
    assert datetime.fromisoformat(snoozed["deadline"]) == until
    assert (await act(alert_id, Acknowledge(), NURSE))["acknowledged_by"] == "n1"
    with pytest.raises(ActionRefusedError):
        await act(alert_id, Acknowledge(), NURSE)  # already acknowledged
    done = await act(alert_id, Resolve(Outcome.ADVICE_GIVEN, "diet advice"), NURSE)
    assert (done["status"], done["outcome"], done["deadline"]) == ("resolved", "advice_given", None)
    with pytest.raises(ActionRefusedError):
        await act(alert_id, Comment("too late"), NURSE)
    kinds = await world.kinds()
    for kind in ("assigned", "commented", "snoozed", "acknowledged", "resolved"):
        assert kinds.count(kind) == 1


@pytest.mark.parametrize(
    ("rule", "action", "error"),
    [
        ("bp.crisis", Acknowledge(), ActionRefusedError),  # tier 3 waits for a doctor
        ("glucose.high", Resolve(Outcome.AUTO_RESOLVED), InvalidActionError),
    ],
)
async def test_refused_actions_change_nothing(
    world: World, rule: str, action: Any, error: type[Exception]
) -> None:
    async with await with_conn(world) as conn:
        await roster(conn, ("n1", "nurse"), ("d1", "doctor"))
    await world.record(det(rule, 1, 320.0))
    before = await world.alert()
    events = await world.kinds()
    with pytest.raises(error):
        await world.response.act(before["id"], action, NURSE)
    assert await world.alert() == before and await world.kinds() == events


async def test_a_dangerous_value_cannot_be_snoozed(world: World) -> None:
    async with await with_conn(world) as conn:
        await roster(conn, ("n1", "nurse"), ("d1", "doctor"))
    spo2 = det("spo2.severe", 1, 88.0)
    await world.record(spo2)
    alert = await world.alert()
    with pytest.raises(ActionRefusedError):
        await world.response.act(alert["id"], Snooze(T0 + timedelta(hours=2), "busy"), NURSE)
    assert (await world.alert())["snoozed_until"] is None


async def record_then_fail(world: World, d: Detection) -> None:
    async with world.pool.connection() as conn, conn.transaction():
        await world.store._apply(DirectTx(conn), d)  # the per-detection writer's path
        raise ZeroDivisionError("the transaction rolls back")


async def test_deadlines_are_announced_only_when_the_transaction_commits(world: World) -> None:
    async with await with_conn(world) as conn:
        await roster(conn, ("n1", "nurse"), ("d1", "doctor"))
    async with await with_conn(world) as listener:
        await listener.execute("LISTEN vigil_deadlines")
        with pytest.raises(ZeroDivisionError):
            await record_then_fail(world, det("glucose.high", 0, 320.0))
        await world.record(det("glucose.high", 1, 320.0))
        # notifications arrive in commit order: had the rolled-back transaction announced its
        # alert (another detection, so another alert id), that would be the first one here
        [note] = [n async for n in listener.notifies(timeout=2.0, stop_after=1)]
    alert = await world.alert()
    alert_id, fence, deadline = note.payload.split()
    assert (uuid.UUID(alert_id), int(fence)) == (alert["id"], alert["fence"])
    assert datetime.fromtimestamp(float(deadline), UTC) == alert["deadline"]


@pytest.mark.parametrize(
    ("rule", "silenced_rule", "pages_at_once"),
    [
        ("glucose.high", "glucose.high", []),  # quiet until the silence ends
        ("glucose.high", None, []),  # a silence of every rule of the patient
        ("glucose.high", "bp.crisis", [(2, "n1", False)]),  # another rule's silence
        ("spo2.severe", None, [(2, "n1", False)]),  # a dangerous value is never silenced
    ],
)
async def test_silences(
    world: World, rule: str, silenced_rule: str | None, pages_at_once: list[Any]
) -> None:
    ends = T0 + timedelta(hours=2)
    async with await with_conn(world) as conn:
        await roster(conn, ("n1", "nurse"), ("d1", "doctor"))
        await add_silence(conn, "p1", silenced_rule, T0 - timedelta(hours=1), ends,
                          "patient at a clinic visit", "n1")  # fmt: skip
    await world.record(det(rule, 1, 320.0 if rule == "glucose.high" else 88.0))
    assert await world.pages() == pages_at_once
    if pages_at_once:
        return
    world.clock.advance(minutes=30)
    await world.record(det(rule, 2, 330.0))  # a repeat under the silence: still quiet
    assert await world.pages() == []
    alert = await world.alert()
    assert alert["deadline"] == ends and alert["tier"] == 2
    assert await world.response.fire_due(ends) == 1  # the silence ends: the nurse hears of it
    assert await world.pages() == [(2, "n1", False)]
    assert (await world.alert())["tier"] == 2


@pytest.mark.parametrize(
    ("second_after_s", "tier"),
    [
        (3 * 3600, 2),  # a second level-1 episode within 24 h: lows recur, the nurse at once
        (30 * 60, 1),  # within 2 h: the same low seen again, not a recurrence
        (25 * 3600, 1),  # a day later: not a recurrence either
    ],
)
async def test_a_level1_low_goes_to_the_patient_first_unless_lows_recur(
    world: World, second_after_s: int, tier: int
) -> None:
    """alerts.routing through PostgreSQL: the earlier episodes are counted under the row lock
    (alerts._locked), and the tier-1 message is the check-treat-re-check advice."""
    async with await with_conn(world) as conn:
        await roster(conn, ("n1", "nurse"), ("d1", "doctor"))
    await world.record(det("glucose.level1_low", 1, 65.0))
    first = await world.alert("glucose.level1_low")
    assert (first["tier"], first["due"]) == (1, "remeasure")
    assert first["deadline"] == world.clock.now + timedelta(minutes=30)  # two "rule of 15" cycles
    [msg] = await world.rows("SELECT template, body FROM patient_messages")
    assert msg["template"] == "glucose_low" and "15 g" in msg["body"]
    await world.record(det("glucose.level1_low", 2, 85.0, kind=Kind.CLEARED))
    assert (await world.alert("glucose.level1_low"))["status"] == "resolved"
    await world.record(det("glucose.level1_low", second_after_s, 62.0))
    again = await world.alert("glucose.level1_low")
    assert again["id"] != first["id"] and again["tier"] == tier
    assert await world.pages() == ([(2, "n1", False)] if tier == 2 else [])


async def meter_reading(
    conn: psycopg.AsyncConnection[Any], seq: int, value: float, unit: str
) -> None:
    """A glucose reading as the stream stores it: canonical mg/dL, the device's own unit kept."""
    canonical = value * MG_DL_PER_MMOL_L if unit == "mmol/L" else value
    await conn.execute(
        "INSERT INTO readings (time, device_id, seq, metric, patient_id, value, unit, orig_value,"
        " orig_unit, received_at) VALUES (%s, 'dev-1', %s, 'glucose', 'p1', %s, 'mg/dL', %s, %s, %s)",
        (T0 + timedelta(seconds=seq), seq, canonical, value, unit, T0 + timedelta(seconds=seq)),
    )


@pytest.mark.parametrize("writer", ["batch", "singly"])
@pytest.mark.parametrize(
    ("lang", "meter_unit", "chosen", "must_say", "never"),
    [
        ("zh", "mmol/L", None, ("最近读数 3.6 mmol/L", "如低于 3.9 mmol/L", "如仍低于 3.9，"), ("mg/dL", "70")),
        ("en", "mmol/L", None, ("last reading 3.6 mmol/L", "below 3.9 mmol/L"), ("mg/dL", "70")),
        ("zh", "mg/dL", None, ("最近读数 65 mg/dL", "如低于 70 mg/dL"), ("mmol/L", "3.9")),
        ("zh", None, None, ("最近读数 3.6 mmol/L", "如低于 3.9 mmol/L"), ("mg/dL", "70")),  # no reading: by language
        ("en", "mmol/L", "mg/dL", ("last reading 65 mg/dL", "below 70 mg/dL"), ("mmol/L", "3.9")),  # a clinician's choice
    ],
)  # fmt: skip
async def test_the_low_glucose_prompt_speaks_the_patients_unit(
    world: World,
    writer: str,
    lang: str,
    meter_unit: str | None,
    chosen: str | None,
    must_say: tuple[str, ...],
    never: tuple[str, ...],
) -> None:
    """Through the escalator (alerts.response): a Chinese patient whose meter shows 3.6 mmol/L
    is told 3.6 and "below 3.9 mmol/L", never "below 70"; both alert writers (the batch and the
    per-detection one) find the unit."""
    canonical = 3.6 * MG_DL_PER_MMOL_L
    async with await with_conn(world) as conn:
        await roster(conn, ("n1", "nurse"), ("d1", "doctor"))
        await conn.execute("UPDATE patients SET lang = %s, glucose_unit = %s", (lang, chosen))
        if meter_unit is not None:
            await meter_reading(conn, 1, 3.6 if meter_unit == "mmol/L" else canonical, meter_unit)
    d = det("glucose.level1_low", 1, canonical)
    await (world.store.record if writer == "batch" else world.store.record_singly)([d])
    [msg] = await world.rows("SELECT template, lang, body FROM patient_messages")
    assert (msg["template"], msg["lang"]) == ("glucose_low", lang)
    for phrase in must_say:
        assert phrase in msg["body"], phrase
    for other in never:
        assert other not in msg["body"], other
