"""The care program over REST and in the running scheduler, on real PostgreSQL (issue 11 parts
1-4, 8): team scoping (another team's record is "not found"), who may edit, versioned
medications and plans, adherence, audited reads; the scheduler's reminders written once and
answered "taken"; the stopped-measuring path to an alert whose tier-1 text names the metric."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from alerts.repository import PgAlertStore
from program.scheduler import ProgramScheduler
from tests.integration.rest_world import api_client, seed

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(90)]
V1 = "/api/v1"


def rows(dsn: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql, params).fetchall()


async def test_record_access_editing_and_versions(dsn: str, tag: str) -> None:
    w = await seed(dsn, tag)
    pid, other = w.teams[0].patients[0], w.teams[1].patients[0]
    admin, nurse, patient = w.bearer(0, "admin"), w.bearer(0, "nurse"), w.bearer(0, "patient")
    async with api_client(dsn) as c:
        # another team's patient: 404 for read and write, and its name never leaks
        for method, url in [("GET", f"/patients/{other}/record"),
                            ("GET", f"/patients/{other}/adherence"),
                            ("PATCH", f"/patients/{other}/record")]:  # fmt: skip
            r = await c.request(
                method, V1 + url, headers=admin, json={} if method == "PATCH" else None
            )
            assert r.status_code == 404, r.text
            assert w.teams[1].names[0] not in r.text
        # a nurse of the team reads, but edits only as the responsible nurse
        assert (await c.get(f"{V1}/patients/{pid}/record", headers=nurse)).status_code == 200
        r = await c.patch(f"{V1}/patients/{pid}/record", headers=nurse, json={"sex": "female"})
        assert r.status_code == 403
        r = await c.patch(f"{V1}/patients/{pid}/record", headers=admin,
                          json={"responsible_nurse": w.staff(0, "nurse"), "birth_date": "1950-02-03",
                                "enrolled_on": "2026-01-01"})  # fmt: skip
        assert r.status_code == 200, r.text
        r = await c.patch(
            f"{V1}/patients/{pid}/record", headers=nurse, json={"phone": "+86 138 0000"}
        )
        assert r.status_code == 200 and r.json()["phone"] == "+86 138 0000"
        # conditions are coded; medications are versioned
        r = await c.post(
            f"{V1}/patients/{pid}/conditions",
            headers=nurse,
            json={"system": "icd10", "code": "I10", "display": "Hypertension"},
        )
        assert r.status_code == 201, r.text
        bad = await c.post(
            f"{V1}/patients/{pid}/conditions",
            headers=nurse,
            json={"system": "icd10", "code": "hello", "display": "x"},
        )
        assert bad.status_code in (400, 422)
        r = await c.post(
            f"{V1}/patients/{pid}/medications",
            headers=nurse,
            json={"name": "Amlodipine", "dose": "5 mg", "times": ["08:00"]},
        )
        assert r.status_code == 201 and r.json()["medications"][0]["medication_key"] == "amlodipine"
        r = await c.put(f"{V1}/patients/{pid}/medications/amlodipine", headers=nurse,
                        json={"name": "Amlodipine", "dose": "10 mg", "times": ["08:00"],
                              "reason": "home BP 148/92"})  # fmt: skip
        assert [m["dose"] for m in r.json()["medications"]] == ["10 mg"]
        history = (await c.get(f"{V1}/patients/{pid}/medications/history", headers=nurse)).json()
        assert [m["dose"] for m in history] == ["5 mg", "10 mg"] and history[0]["valid_to"]
        # the patient reads their own record, never another's; cannot edit
        assert (await c.get(f"{V1}/patients/{pid}/record", headers=patient)).status_code == 200
        assert (await c.get(f"{V1}/patients/{w.teams[0].patients[1]}/record",
                            headers=patient)).status_code == 404  # fmt: skip
        assert (await c.patch(f"{V1}/patients/{pid}/record", headers=patient,
                              json={"sex": "male"})).status_code == 403  # fmt: skip
    audited = rows(dsn, "SELECT action, resource FROM audit_log WHERE patient_id = %s", pid)
    assert ("read", "patient_record") in audited and ("update", "patient_medication") in audited


async def test_plan_from_a_template_edited_and_adherence(dsn: str, tag: str) -> None:
    w = await seed(dsn, tag)
    pid, admin = w.teams[0].patients[0], w.bearer(0, "admin")
    async with api_client(dsn) as c:
        r = await c.post(f"{V1}/patients/{pid}/plan/templates/hypertension", headers=admin)
        assert r.status_code == 200 and [i["item_key"] for i in r.json()] == ["bp"]
        r = await c.put(f"{V1}/patients/{pid}/plan/items/bp", headers=admin,
                        json={"metrics": ["systolic_bp", "diastolic_bp"], "frequency": "daily",
                              "local_times": ["08:00"]})  # fmt: skip
        assert r.status_code == 200 and r.json()[0]["frequency"] == "daily"
        history = (await c.get(f"{V1}/patients/{pid}/plan?history=true", headers=admin)).json()
        assert [h["frequency"] for h in history] == ["times_per_day", "daily"]
        r = await c.get(f"{V1}/patients/{pid}/adherence", headers=w.bearer(0, "nurse"))
        assert r.status_code == 200, r.text
        body = r.json()
        # the world's readings: 6 hourly systolic readings in the last 6 hours
        assert body["billing"]["days_with_data"] >= 1 and body["billing"]["needed"] == 16
        assert [i["item_key"] for i in body["items"]] == ["bp"]
        assert (await c.post(f"{V1}/patients/{pid}/plan/templates/nope",
                             headers=admin)).status_code == 404  # fmt: skip


async def _setup_scheduler_patient(dsn: str, pid: str, start: datetime) -> None:
    with psycopg.connect(dsn) as conn:
        conn.execute("UPDATE patients SET tz = 'Asia/Shanghai', lang = 'en' WHERE id = %s", (pid,))
        conn.execute(
            "INSERT INTO plan_items (patient_id, item_key, metrics, frequency, local_times,"
            " grace_s, template, valid_from, changed_by) VALUES (%s, 'weight', '{weight}',"
            " 'daily', '{07:00}', 259200, 'heart_failure', %s, 'test')",
            (pid, start),
        )
        conn.execute("INSERT INTO patient_medications (patient_id, medication_key, name, dose, times,"
                     " valid_from, changed_by) VALUES (%s, 'furosemide', 'Furosemide', '40 mg',"
                     " %s, %s, 'test')", (pid, [time(8)], start))  # fmt: skip


async def test_the_scheduler_writes_reminders_once_and_takes_answers(dsn: str, tag: str) -> None:
    w = await seed(dsn, tag)
    pid = w.teams[0].patients[1]  # no device, no readings
    start = datetime(2026, 3, 1, tzinfo=UTC)
    await _setup_scheduler_patient(dsn, pid, start)
    # Mar 3, 08:10 Shanghai = 00:10 UTC, catching up 2 hours: the 07:00 weighing and the 08:00
    # dose are due; the plan started Mar 1 08:00 local (after that day's 07:00 slot), Mar 2
    # closed without a weight, and the grace period (3 days) has not passed: a tier-1 reminder
    now = datetime(2026, 3, 3, 0, 10, tzinfo=UTC)
    async with AsyncConnectionPool(dsn, min_size=1, max_size=2, open=False) as pool:
        scheduler = ProgramScheduler(pool, PgAlertStore(pool, lambda: now), lambda: now,
                                     catch_up_s=7200)  # fmt: skip
        first = await scheduler.tick(now)
        again = await scheduler.tick(now + timedelta(minutes=1))  # an overlapping tick, a restart
    assert (first.messages, again.messages) == (3, 0)
    sent = rows(dsn, "SELECT template, ref_key, body FROM patient_messages WHERE patient_id = %s"
                " ORDER BY template", pid)  # fmt: skip
    templates = [t for t, _, _ in sent]
    assert templates.count("medication_reminder") == 1 and templates.count("measure_reminder") == 1
    stopped = [b for t, _, b in sent if t == "stopped_measuring"]
    assert stopped[0].startswith("We have not received your weight readings since 1 March 2026")
    (dose_id,) = rows(dsn, "SELECT id FROM patient_messages WHERE patient_id = %s"
                      " AND template = 'medication_reminder'", pid)[0]  # fmt: skip
    async with api_client(dsn) as c:
        token = await _patient_token(dsn, pid)
        r = await c.post(
            f"{V1}/me/answers", headers=token, json={"message_id": str(dose_id), "answer": "taken"}
        )
        assert r.status_code == 200 and r.json()["recorded"] is True, r.text
        r = await c.post(
            f"{V1}/me/answers", headers=token, json={"message_id": str(dose_id), "answer": "taken"}
        )
        assert r.json()["recorded"] is False
        wrong = await c.post(
            f"{V1}/me/answers",
            headers=token,
            json={"message_id": str(dose_id), "answer": "measured"},
        )
        assert wrong.status_code in (400, 422)
        other = await c.post(
            f"{V1}/me/answers",
            headers=w.bearer(1, "patient"),
            json={"message_id": str(dose_id), "answer": "taken"},
        )
        assert other.status_code == 404
    assert rows(dsn, "SELECT kind, ref_key FROM patient_answers WHERE patient_id = %s", pid) == [
        ("taken", "furosemide")
    ]


async def _patient_token(dsn: str, pid: str) -> dict[str, str]:
    from api.auth import issue_subject_token

    async with AsyncConnectionPool(dsn, min_size=1, max_size=1, open=False) as pool:
        now = datetime.now(UTC)
        token = await issue_subject_token(pool, now, timedelta(hours=1), patient_id=pid)
    return {"Authorization": f"Bearer {token}"}


async def test_stopped_measuring_reaches_the_alerts_after_the_grace_period(
    dsn: str, tag: str
) -> None:
    w = await seed(dsn, tag)
    pid = w.teams[0].patients[1]
    start = datetime(2026, 3, 1, tzinfo=UTC)
    await _setup_scheduler_patient(dsn, pid, start)
    now = start + timedelta(days=3, hours=2)  # 10:00 Shanghai, 3 days after the plan started
    async with AsyncConnectionPool(dsn, min_size=1, max_size=2, open=False) as pool:
        scheduler = ProgramScheduler(pool, PgAlertStore(pool, lambda: now), lambda: now)
        result = await scheduler.tick(now)
        again = await scheduler.tick(now + timedelta(minutes=1))
    assert (result.nurse, again.nurse) == (1, 1)  # the same detection: a replay, no change
    alerts = rows(dsn, "SELECT rule_id, tier, status FROM alerts WHERE patient_id = %s", pid)
    assert alerts == [("program.stopped_measuring", 1, "open")]  # tier 1 first, nurse next
    prompts = rows(dsn, "SELECT template, body FROM patient_messages WHERE patient_id = %s"
                   " AND alert_id IS NOT NULL", pid)  # fmt: skip
    assert [t for t, _ in prompts] == ["stopped"]
    assert prompts[0][1].startswith("We have not received your weight readings since 1 March 2026")
    assert "reading was" not in prompts[0][1]
