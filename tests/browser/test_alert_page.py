"""The alert page in a real browser (issue 10, parts 3 and 8): the doctor resolves a tier-3 alert
with "visit booked" (date, time and place), and a refused action shows the API's reason; after
the app went away and came back, the open worklist resumes from its last seq and shows what
happened meanwhile without a reload."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, expect
from psycopg_pool import AsyncConnectionPool

from alerts.actions import Actor, Resolve
from alerts.escalation import Outcome
from alerts.repository import PgAlertStore
from alerts.response import PgResponse
from stream.detections import Detection
from tests.browser.conftest import add_account, live, shot, signed_in
from tests.integration.devices import enrol
from tests.integration.stack import Stack
from tests.integration.test_websocket import crisis
from vigil.runtime import utc_now
from vigil.settings import Settings

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(120)]

ROWS = "#worklist-rows tr"


async def record(dsn: str, *detections: Detection) -> None:
    async with AsyncConnectionPool(dsn, min_size=1, max_size=1, open=False) as pool:
        await PgAlertStore(pool).record(detections)


async def test_the_doctor_books_a_visit_on_a_tier_3_alert(
    stack: Stack, browser: Browser, dsn: str, settings: Settings, tag: str, screenshots: Path
) -> None:
    patients, _ = await enrol(settings, dsn, tag, patients=1)
    await add_account(dsn, f"doc.{tag}", "doctor", patients[0].team_id)
    await record(dsn, crisis(patients[0].patient_id, 1, 201.0))
    doctor = await signed_in(browser, stack.api_url, f"doc.{tag}")
    page = doctor.page
    row = page.locator(ROWS).first
    await expect(row.locator(".tier")).to_have_text("3")
    await row.locator(".title a").click()
    await expect(page.locator("h1")).to_have_text("Hypertensive crisis")

    callback = page.locator("form.callback")
    await callback.locator("select[name=outcome]").select_option("visit_booked")
    await callback.locator("button[type=submit]").click()  # no date or place yet: the form says so
    await expect(page.locator("#alert-status")).to_have_text("Open")
    await callback.locator("input[name=visit_at]").fill("2030-01-02T09:30")
    await callback.locator("input[name=visit_place]").fill("Riverside clinic, room 4")
    await callback.locator("textarea[name=note]").fill("Chest pain ruled out by phone")
    await callback.locator("button[type=submit]").click()

    await expect(page.locator("#alert-status")).to_have_text("Resolved", timeout=10_000)
    resolved = page.locator(".events tr", has_text="Resolved")
    await expect(resolved).to_contain_text("Visit booked")
    await expect(resolved).to_contain_text("Riverside clinic, room 4")
    await expect(resolved).to_contain_text("2030-01-02 09:30 CST")  # typed in the doctor's zone
    await expect(resolved).to_contain_text("Chest pain ruled out by phone")
    await expect(page.locator("form.action")).to_have_count(0)
    await shot(page, screenshots, "alert-visit-booked")
    assert doctor.errors == []


async def test_a_refused_action_shows_the_reason_in_words(
    stack: Stack, browser: Browser, dsn: str, settings: Settings, tag: str, screenshots: Path
) -> None:
    patients, _ = await enrol(settings, dsn, tag, patients=1)
    team = patients[0].team_id
    await add_account(dsn, f"n.{tag}", "nurse", team)
    await add_account(dsn, f"d.{tag}", "doctor", team)
    await record(dsn, crisis(patients[0].patient_id, 1, 199.0))  # tier 3: a doctor acknowledges
    nurse = await signed_in(browser, stack.api_url, f"n.{tag}")
    await nurse.page.locator(ROWS).first.locator(".title a").click()
    await expect(nurse.page.locator("h1")).to_have_text("Hypertensive crisis")
    await expect(nurse.page.locator("form[data-action=acknowledge]")).to_have_count(0)
    doctor = await signed_in(browser, stack.api_url, f"d.{tag}")
    page = doctor.page
    await page.locator(ROWS).first.locator(".title a").click()
    await expect(page.locator("form[data-action=acknowledge] button")).to_be_enabled()
    # meanwhile a colleague closes it: the doctor's page is now stale
    async with AsyncConnectionPool(dsn, min_size=1, max_size=1, open=False) as pool:
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT id FROM alerts WHERE patient_id = %s",
                                     (patients[0].patient_id,))  # fmt: skip
            (alert_id,) = await cur.fetchone() or (None,)
        await PgResponse(pool, utc_now).act(alert_id, Resolve(Outcome.FALSE_ALARM, "seen"),
                                            Actor("colleague", "admin"))  # fmt: skip
    await page.locator("form[data-action=acknowledge] button").click()
    result = page.locator("#action-result")
    await expect(result).to_contain_text("Refused in the alert's current state.")
    await expect(result).to_contain_text("the alert is resolved")
    await shot(page, screenshots, "alert-refused")
    assert nurse.errors == [] and doctor.errors == []


async def test_another_teams_alert_is_not_found(
    stack: Stack, browser: Browser, dsn: str, settings: Settings, tag: str, screenshots: Path
) -> None:
    patients, _ = await enrol(settings, dsn, tag, patients=2)
    mine, theirs = patients[0], next(p for p in patients if p.team_id != patients[0].team_id)
    await add_account(dsn, f"o.{tag}", "nurse", mine.team_id)
    await record(dsn, crisis(theirs.patient_id, 1, 198.0))
    async with (
        AsyncConnectionPool(dsn, min_size=1, max_size=1, open=False) as pool,
        pool.connection() as conn,
    ):
        cur = await conn.execute(
            "SELECT id FROM alerts WHERE patient_id = %s", (theirs.patient_id,)
        )
        (alert_id,) = await cur.fetchone() or (None,)
    nurse = await signed_in(browser, stack.api_url, f"o.{tag}")
    await expect(nurse.page.locator(ROWS)).to_have_count(0)  # not on my worklist either
    answer = await nurse.page.goto(f"/alerts/{alert_id}")
    assert answer is not None and answer.status == 404
    await expect(nurse.page.locator("h1")).to_have_text("Not found")
    await expect(nurse.page.locator("main")).not_to_contain_text(f"Patient {theirs.index + 1}")
    await shot(nurse.page, screenshots, "alert-other-team-404")


async def test_the_worklist_resumes_after_the_app_comes_back(
    stack: Stack, browser: Browser, dsn: str, settings: Settings, tag: str, screenshots: Path
) -> None:
    patients, _ = await enrol(settings, dsn, tag, patients=2)
    team = patients[0].team_id
    same_team = [p for p in patients if p.team_id == team]
    await add_account(dsn, f"r.{tag}", "nurse", team)
    await record(dsn, crisis(same_team[0].patient_id, 1, 190.0))
    nurse = await signed_in(browser, stack.api_url, f"r.{tag}")
    page = nurse.page
    await live(page)
    await expect(page.locator(ROWS)).to_have_count(1)

    stack.stop("run")
    await expect(page.locator("#conn-state")).to_have_attribute("data-state", "offline")
    await shot(page, screenshots, "worklist-offline")
    await record(
        dsn, crisis(same_team[-1].patient_id, 2, 205.0), crisis(same_team[0].patient_id, 3, 207.0)
    )
    stack.start("run", "run")
    await stack.wait_healthy()

    await live(page)
    await expect(page.locator(ROWS)).to_have_count(len(same_team), timeout=20_000)
    if len(same_team) == 1:
        await expect(page.locator(ROWS).first.locator(".value")).to_have_text("SBP 207 mmHg")
    ids = await page.locator(ROWS).evaluate_all("rows => rows.map(r => r.id)")
    assert len(ids) == len(set(ids))
    assert nurse.errors == []
