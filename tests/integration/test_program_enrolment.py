"""`vigil enrol-demo`'s care program (program.enrolment via vigil.demo.program_enrolment) on
real PostgreSQL: conditions, medications and plans from each simulated kit, follow-up calls
weekly after a discharge or monthly otherwise, once per patient."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from api import registry
from program import repository as repo
from program.enrolment import enrol
from simulators.fleet import cohort
from vigil.demo import program_enrolment

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]

NOW = datetime(2026, 6, 15, 12, tzinfo=UTC)


async def test_demo_patients_get_conditions_plans_and_calls(
    aconn: psycopg.AsyncConnection[Any], tag: str
) -> None:
    people = cohort(6, 1, prefix=tag)
    for team in sorted({p.team_id for p in people}):
        await registry.upsert_team(aconn, team, team)
        await registry.upsert_staff(aconn, f"nurse-{team}", "N", "nurse", [team])
    for p in people:
        await registry.upsert_patient(aconn, p.patient_id, p.team_id, "P")
        assert await enrol(aconn, program_enrolment(p), "test", NOW)
        assert not await enrol(aconn, program_enrolment(p), "test", NOW)  # once
    # patient 0: cuff + wearable + CGM + scale -> hypertension, type 1 diabetes, heart failure
    codes = {c.code for c in await repo.conditions(aconn, people[0].patient_id, NOW)}
    assert codes == {"I10", "E10.9", "I50.9"}
    plan = {i.item_key for i in await repo.plan(aconn, people[0].patient_id, NOW)}
    assert "bp" in plan and len(plan) >= 3
    cur = await aconn.execute(
        "SELECT patient_id, count(*), min(due_at), max(owner) FROM care_tasks"
        " WHERE kind = 'follow_up_call' GROUP BY patient_id ORDER BY patient_id"
    )
    calls = {pid: (n, first, owner) for pid, n, first, owner in await cur.fetchall()}
    # patient 1 was discharged 10 days ago (June 5): calls on days 14, 21, 28, then monthly
    n, first, owner = calls[people[1].patient_id]
    assert (n, first) == (3 + 11, datetime(2026, 6, 19, 10, tzinfo=UTC))
    assert owner == f"nurse-{people[1].team_id}"
    # patient 0, chronic care enrolled 30 days ago (May 16): monthly, next on day 60
    assert calls[people[0].patient_id][:2] == (11, datetime(2026, 7, 15, 10, tzinfo=UTC))
    cur = await aconn.execute(
        "SELECT count(*) FROM audit_log WHERE resource = 'task' AND action = 'create'"
    )
    assert await cur.fetchone() == (sum(n for n, _, _ in calls.values()),)  # each audited
