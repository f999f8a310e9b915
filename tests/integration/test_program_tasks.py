"""Tasks and the alert workflow never disagree (migration 0009's trigger, program.follow_up) on
real PostgreSQL with a fake clock: a tier-3 alert opens the doctor's callback task; resolving
the alert closes it; completing the callback resolves the alert in the same transaction; and
over REST, another team's tasks and follow-up records are "not found"."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
import pytest_asyncio
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from alerts.actions import ActionRefusedError, Actor, Resolve
from alerts.escalation import Outcome
from alerts.repository import PgAlertStore
from alerts.response import PgResponse
from api.registry import upsert_patient, upsert_staff, upsert_team
from program import follow_up
from program.recompute import recompute
from program.tasks import Completion, ContactType, TaskOutcome
from stream.detections import Detection, Severity, Worse, detection_id
from tests.integration.rest_world import api_client, seed

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(90)]

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
DOCTOR = Actor("d1", "doctor", frozenset({"A"}))
NURSE = Actor("n1", "nurse", frozenset({"A"}))
OTHER = Actor("d9", "doctor", frozenset({"B"}))


def crisis(seq: int, severity: Severity = Severity.CRITICAL) -> Detection:
    return Detection(
        id=detection_id("bp.crisis", "p1", "dev-1", seq, "systolic_bp"), rule_id="bp.crisis",
        title="Hypertensive crisis", severity=severity, worse=Worse.HIGHER, patient_id="p1",
        device_id="dev-1", seq=seq, metric="systolic_bp", value=200.0, unit="mm[Hg]",
        measured_at=T0, dangerous=False,
    )  # fmt: skip


class World:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool
        self.response = PgResponse(pool, lambda: T0)
        self.store = PgAlertStore(pool, lambda: T0)

    async def rows(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        async with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(sql, params)
            return await cur.fetchall()

    async def callback(self) -> dict[str, Any]:
        [task] = await self.rows("SELECT * FROM care_tasks WHERE kind = 'callback'")
        return task

    async def alert(self) -> dict[str, Any]:
        [row] = await self.rows("SELECT id, status, outcome, tier FROM alerts")
        return row

    async def complete(self, task_id: uuid.UUID, c: Completion, who: Actor) -> dict[str, Any]:
        async with self.pool.connection() as conn, conn.transaction():
            return await follow_up.complete(conn, self.response, task_id, c, who, T0)


@pytest_asyncio.fixture
async def world(dsn: str) -> AsyncIterator[World]:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await upsert_team(conn, "A", "Team A")
        await upsert_team(conn, "B", "Team B")
        await upsert_staff(conn, "d1", "d1", "doctor", ["A"])
        await upsert_staff(conn, "n1", "n1", "nurse", ["A"])
        await upsert_patient(conn, "p1", "A", "Patient One")
        await conn.execute("UPDATE patients SET responsible_doctor = 'd1'")
    async with AsyncConnectionPool(dsn, min_size=1, max_size=4, open=False) as pool:
        w = World(pool)
        await w.store.record([crisis(1)])  # critical: enters tier 3 at once
        yield w


async def test_a_tier3_alert_opens_one_callback_task_for_the_responsible_doctor(
    world: World,
) -> None:
    task = await world.callback()
    alert = await world.alert()
    assert (task["alert_id"], task["owner"], task["owner_role"], task["status"]) == (
        alert["id"], "d1", "doctor", "open")  # fmt: skip
    assert task["due_at"] == T0 + timedelta(hours=1)  # critical: the one-hour tier-3 clock
    await world.store.record([crisis(2)])  # a repeat: still one task
    assert len(await world.rows("SELECT id FROM care_tasks")) == 1


VISIT = (T0 + timedelta(days=1), "Clinic 2")


@pytest.mark.parametrize(
    ("outcome", "visit", "status", "task_outcome"),
    [
        (Outcome.CALLBACK_DONE, (None, ""), "done", "reached"),
        (Outcome.VISIT_BOOKED, VISIT, "done", "visit_booked"),
        (Outcome.FALSE_ALARM, (None, ""), "cancelled", "closed_with_alert"),
    ],
)
async def test_resolving_the_alert_closes_its_callback_task(
    world: World, outcome: Outcome, visit: tuple[datetime | None, str], status: str,
    task_outcome: str,
) -> None:  # fmt: skip
    alert = await world.alert()
    await world.response.act(alert["id"], Resolve(outcome, "spoke to patient", *visit), DOCTOR)
    task = await world.callback()
    assert (task["status"], task["outcome"], task["completed_by"]) == (status, task_outcome, "d1")
    [record] = await world.rows(
        "SELECT outcome, note, visit_at, visit_place FROM follow_up_records"
    )
    assert record == {"outcome": task_outcome, "note": "spoke to patient",
                      "visit_at": visit[0], "visit_place": visit[1] or None}  # fmt: skip


async def test_completing_the_callback_resolves_its_alert_with_the_record(world: World) -> None:
    task = await world.callback()
    visit = T0 + timedelta(days=2)
    booked = Completion(TaskOutcome.VISIT_BOOKED, ContactType.PHONE, symptoms="headache",
                        medication_changes="amlodipine 5 -> 10 mg", advice_given="rest",
                        visit_at=visit, visit_place="Clinic 2")  # fmt: skip
    after = await world.complete(task["id"], booked, DOCTOR)
    assert (after["status"], after["outcome"]) == ("done", "visit_booked")
    alert = await world.alert()
    assert (alert["status"], alert["outcome"]) == ("resolved", "visit_booked")
    [record] = await world.rows(
        "SELECT outcome, symptoms, medication_changes, visit_at, visit_place, recorded_by"
        " FROM follow_up_records"
    )
    assert record == {"outcome": "visit_booked", "symptoms": "headache",
                      "medication_changes": "amlodipine 5 -> 10 mg", "visit_at": visit,
                      "visit_place": "Clinic 2", "recorded_by": "d1"}  # fmt: skip
    with pytest.raises(follow_up.TaskRefusedError):  # closed: a second completion is refused
        await world.complete(task["id"], booked, DOCTOR)
    with pytest.raises(ActionRefusedError):
        await world.response.act(alert["id"], Resolve(Outcome.CALLBACK_DONE), DOCTOR)


async def test_not_reached_records_the_attempt_and_leaves_both_open(world: World) -> None:
    task = await world.callback()
    await world.complete(task["id"], Completion(TaskOutcome.NOT_REACHED, ContactType.PHONE),
                         DOCTOR)  # fmt: skip
    after = await world.callback()
    assert (after["status"], after["attempts"]) == ("open", 1)
    assert (await world.alert())["status"] != "resolved"
    assert len(await world.rows("SELECT id FROM follow_up_records")) == 1


@pytest.mark.parametrize(
    ("who", "error"),
    [(OTHER, follow_up.TaskNotFoundError), (NURSE, follow_up.TaskRefusedError)],
)
async def test_who_may_complete_a_callback(
    world: World, who: Actor, error: type[Exception]
) -> None:
    task = await world.callback()
    with pytest.raises(error):
        await world.complete(task["id"], Completion(TaskOutcome.REACHED, ContactType.PHONE), who)
    assert (await world.callback())["status"] == "open"


async def test_rest_tasks_are_scoped_to_the_team(dsn: str, tag: str) -> None:
    w = await seed(dsn, tag)  # each team's first patient has a critical alert: a callback task
    async with api_client(dsn) as client:
        own = await client.get(f"/api/v1/teams/{w.teams[0].id}/tasks", headers=w.bearer(0, "nurse"))
        assert own.status_code == 200
        [task] = [t for t in own.json() if t["kind"] == "callback"]
        assert task["patient_id"] == w.teams[0].patients[0]
        other = await client.get(f"/api/v1/teams/{w.teams[1].id}/tasks",
                                 headers=w.bearer(0, "nurse"))  # fmt: skip
        assert other.status_code == 404
        done = {"outcome": "reached", "contact_type": "phone", "advice_given": "rest"}
        url = f"/api/v1/tasks/{task['id']}/complete"
        assert (await client.post(url, json=done, headers=w.bearer(1, "doctor"))).status_code == 404
        assert (
            await client.post(url, json=done, headers=w.bearer(0, "patient"))
        ).status_code == 403
        answer = await client.post(url, json=done, headers=w.bearer(0, "doctor"))
        assert answer.status_code == 200 and answer.json()["status"] == "done"
        alert = await client.get(f"/api/v1/alerts/{w.teams[0].alert_id}",
                                 headers=w.bearer(0, "doctor"))  # fmt: skip
        assert alert.json()["outcome"] == "callback_done"
        records = f"/api/v1/patients/{w.teams[0].patients[0]}/follow-ups"
        got = await client.get(records, headers=w.bearer(0, "nurse"))
        assert [r["advice_given"] for r in got.json()] == ["rest"]
        assert (await client.get(records, headers=w.bearer(1, "nurse"))).status_code == 404
        risk = f"/api/v1/patients/{w.teams[0].patients[0]}/risk-history"
        assert (await client.get(risk, headers=w.bearer(1, "nurse"))).status_code == 404


async def test_rest_patients_filter_and_sort_by_risk(dsn: str, tag: str) -> None:
    w = await seed(dsn, tag)  # each team's first patient has an open critical alert
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await recompute(conn, datetime.now(UTC))
    own = w.teams[0]
    async with api_client(dsn) as client:

        async def ids(query: str) -> list[str]:
            got = await client.get(f"/api/v1/patients?{query}", headers=w.bearer(0, "nurse"))
            assert got.status_code == 200
            return [p["id"] for p in got.json()]

        assert await ids("tier=high") == [own.patients[0]]
        assert await ids("tag=open_high_alert") == [own.patients[0]]
        assert await ids("tier=low") == [own.patients[1]]
        assert await ids("sort=risk&limit=1") == [own.patients[0]]
        listed = await client.get("/api/v1/patients", headers=w.bearer(0, "nurse"))
        first = {p["id"]: p for p in listed.json()}[own.patients[0]]
        assert (first["risk_tier"], first["risk_tags"]) == ("high", ["open_high_alert"])
        bad = await client.get("/api/v1/patients?sort=risk&after=x", headers=w.bearer(0, "nurse"))
        assert bad.status_code == 422
