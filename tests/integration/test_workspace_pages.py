"""The patients list, the patient page and the roster page as a signed-in browser gets them
(in-process app, real PostgreSQL): scoped to my teams (another team's patient is the 404 page),
the search posted (never in a URL, and refused without the CSRF token), the charts' data on the
page, and the roster's edit forms for admins only."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest

from tests.integration.rest_world import utc_now
from tests.integration.session_world import Clock, login, seed_accounts, session_client, sign_in

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]


def charts_of(html: str) -> list[dict[str, object]]:
    found = re.search(
        r'<script type="application/json" id="charts-data">(.*?)</script>', html, re.S
    )
    assert found, "the patient page carries its charts' data"
    data: list[dict[str, object]] = json.loads(found.group(1))
    return data


async def test_patients_list_and_search_stay_in_my_teams(dsn: str, tag: str) -> None:
    w = await seed_accounts(dsn, tag)
    async with session_client(dsn, Clock(utc_now())) as c:
        signed = await sign_in(c, login(w, "nurse"))
        csrf = signed.json()["session"]["csrf_token"]
        listed = await c.get("/patients")
        found = await c.post("/patients", data={"q": w.teams[0].names[1][-5:], "csrf_token": csrf})
        forged = await c.post("/patients", data={"q": "Zed"})
    assert listed.status_code == 200, listed.text
    assert all(name in listed.text for name in w.teams[0].names)
    assert not any(name in listed.text for t in w.teams[1:] for name in t.names)
    assert "125/– mmHg" in listed.text  # the latest systolic; no diastolic measured
    assert found.status_code == 200
    assert w.teams[0].names[1] in found.text and w.teams[0].names[0] not in found.text
    assert forged.status_code == 403


async def test_patient_page_has_charts_history_and_404_for_another_team(dsn: str, tag: str) -> None:
    w = await seed_accounts(dsn, tag)
    mine, theirs = w.teams[0].patients[0], w.teams[1].patients[0]
    async with session_client(dsn, Clock(utc_now())) as c:
        await sign_in(c, login(w, "doctor"))
        page = await c.get(f"/patients/{mine}?range=24h")
        other = await c.get(f"/patients/{theirs}")
        nobody = await c.get("/patients/nobody-at-all")
        bad_range = await c.get(f"/patients/{mine}?range=1y")
    assert page.status_code == 200, page.text
    assert "Hypertensive crisis" in page.text  # the alert history
    charts = {c["key"]: c for c in charts_of(page.text)}
    assert list(charts) == ["blood_pressure", "glucose", "weight", "spo2", "heart_rate"]
    bp = charts["blood_pressure"]
    assert [s["key"] for s in bp["series"]] == ["systolic_bp"]  # type: ignore[index]
    assert {g["label"] for g in bp["targets"]} == {  # type: ignore[attr-defined]
        "Home target 135 systolic", "Home target 85 diastolic"}  # fmt: skip
    assert {(line["label"], line["mark"]) for line in bp["legend"]} >= {  # type: ignore[attr-defined]
        ("Hypertensive crisis", "> 180"), ("Hypertensive crisis", "> 120")}  # fmt: skip
    assert {line["text"] for line in bp["thresholds"]} == {"> 180", "> 120"}  # type: ignore[attr-defined]
    assert (other.status_code, nobody.status_code) == (404, 404)
    assert w.teams[1].names[0] not in other.text
    assert bad_range.status_code == 422


async def test_roster_page_shows_on_call_and_lets_admins_edit(dsn: str, tag: str) -> None:
    w = await seed_accounts(dsn, tag)
    team = w.teams[0].id
    async with session_client(dsn, Clock(utc_now())) as c:
        signed = await sign_in(c, login(w, "admin"))
        csrf = {"X-CSRF-Token": signed.json()["session"]["csrf_token"]}
        added = await c.post(
            f"/api/v1/teams/{team}/roster/shifts", headers=csrf,
            json={"staff_id": w.staff(0, "nurse"), "role": "nurse", "tz": "Asia/Shanghai",
                  "weekdays": [0, 2, 4], "start_time": "08:00", "end_time": "20:00"},
        )  # fmt: skip
        cover = await c.post(
            f"/api/v1/teams/{team}/roster/overrides", headers=csrf,
            json={"staff_id": w.staff(0, "doctor"), "role": "doctor",
                  "starts_at": (utc_now() - timedelta(hours=1)).isoformat(),
                  "ends_at": (utc_now() + timedelta(hours=5)).isoformat(), "reason": "cover"},
        )  # fmt: skip
        admin_page = await c.get("/roster")
    async with session_client(dsn, Clock(utc_now())) as c:
        await sign_in(c, login(w, "nurse"))
        nurse_page = await c.get("/roster")
    assert (added.status_code, cover.status_code) == (201, 201), added.text + cover.text
    assert admin_page.status_code == 200, admin_page.text
    assert "08:00–20:00 (Asia/Shanghai)" in admin_page.text
    assert admin_page.text.count('data-post="/api/v1/teams/') == 2
    assert f'data-delete="/api/v1/teams/{team}/roster/overrides/' in admin_page.text
    assert "Doctor Li" in nurse_page.text  # on call now through the override
    assert "data-post=" not in nurse_page.text and "data-delete=" not in nurse_page.text
    assert w.teams[1].id not in nurse_page.text
