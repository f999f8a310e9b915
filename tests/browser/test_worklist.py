"""The worklist in a real browser (issue 10, parts 2, 6 and 8): a dangerous reading published
over MQTT by a device appears on an open worklist without a reload; acknowledging it changes its
status there and on a second nurse's worklist; the Chinese UI shows translated titles and
announces a critical alert."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, expect
from psycopg_pool import AsyncConnectionPool

from alerts.repository import PgAlertStore
from tests.browser.conftest import add_account, live, shot, signed_in
from tests.integration.devices import bp_device, bp_payload, connect, enrol
from tests.integration.stack import Stack
from tests.integration.test_websocket import crisis
from vigil.settings import Settings

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(120)]

ROWS = "#worklist-rows tr"


async def test_a_dangerous_reading_reaches_both_nurses_and_so_does_the_ack(
    stack: Stack, browser: Browser, dsn: str, settings: Settings, tag: str, screenshots: Path
) -> None:
    patients, _ = await enrol(settings, dsn, tag, patients=1)
    team = patients[0].team_id
    await add_account(dsn, f"a.{tag}", "nurse", team)
    await add_account(dsn, f"b.{tag}", "nurse", team)
    a = await signed_in(browser, stack.api_url, f"a.{tag}")
    b = await signed_in(browser, stack.api_url, f"b.{tag}")
    for nurse in (a, b):
        await live(nurse.page)
        await expect(nurse.page.locator(ROWS)).to_have_count(0)
    await shot(a.page, screenshots, "worklist-empty")

    cuff = await connect(settings, bp_device(patients))
    topic = f"vigil/v1/devices/{cuff.device_id}/readings"
    await cuff.publish_raw(topic, bp_payload(cuff.device_id, 1, 212.0, 95.0, minutes_ago=0.2))

    # the systolic value's alert (the diastolic one may have its own row)
    row_a = a.page.locator(ROWS, has=a.page.locator(".value", has_text="212 mmHg"))
    row_b = b.page.locator(ROWS, has=b.page.locator(".value", has_text="212 mmHg"))
    await expect(row_a).to_be_visible(timeout=20_000)  # no reload: the feed brought it
    await expect(row_a.locator(".status")).to_have_text("Open")
    await expect(row_a.locator(".patient")).to_have_text(f"Patient {patients[0].index + 1}")
    await expect(row_b).to_be_visible()
    await shot(a.page, screenshots, "worklist-new-alert")

    await row_a.locator("button.js-ack").click()
    await expect(row_a.locator(".status")).to_have_text("Acknowledged", timeout=10_000)
    await expect(row_b.locator(".status")).to_have_text("Acknowledged", timeout=10_000)
    await expect(row_b.locator("button.js-ack")).to_have_count(0)
    await shot(b.page, screenshots, "worklist-acknowledged-second-nurse")

    await a.page.select_option("select[name=severity]", "critical")  # the alert is "high"
    await a.page.click("form.filters button[type=submit]")
    await expect(a.page.locator(ROWS)).to_have_count(0)
    await expect(a.page.locator("#empty")).to_be_visible()
    await a.page.select_option("select[name=severity]", "")  # "All": an empty field
    await a.page.click("form.filters button[type=submit]")
    await expect(row_a).to_be_visible()

    await b.page.click("form.signout button")
    await expect(b.page.locator("#login")).to_be_visible()
    await b.page.goto("/")
    await expect(b.page.locator("#login")).to_be_visible()  # signed out: back to the sign-in

    await row_a.locator(".title a").click()
    await expect(a.page.locator("#alert-status")).to_have_text("Acknowledged")
    await expect(a.page.locator(".events")).to_contain_text("Acknowledged")
    await a.page.wait_for_selector("#chart canvas")
    await shot(a.page, screenshots, "alert-detail")
    assert a.errors == [] and b.errors == []


async def test_the_chinese_ui_translates_titles_and_announces_a_critical_alert(
    stack: Stack, browser: Browser, dsn: str, settings: Settings, tag: str, screenshots: Path
) -> None:
    patients, _ = await enrol(settings, dsn, tag, patients=1)
    await add_account(dsn, f"zh.{tag}", "nurse", patients[0].team_id, locale="zh-CN")
    nurse = await signed_in(browser, stack.api_url, f"zh.{tag}")
    page = nurse.page
    await live(page)
    await expect(page.locator("h1")).to_have_text("未关闭的警报")
    async with AsyncConnectionPool(dsn, min_size=1, max_size=1, open=False) as pool:
        await PgAlertStore(pool).record([crisis(patients[0].patient_id, 1, 196.0)])

    row = page.locator(ROWS).first
    await expect(row.locator(".title")).to_have_text("高血压危象", timeout=20_000)
    await expect(row.locator(".severity")).to_contain_text("危急")
    await expect(row.locator(".status")).to_have_text("未处理")
    await expect(page.locator("#announce")).to_have_text("危急警报：高血压危象（Patient 1）")
    await shot(page, screenshots, "worklist-zh-critical")
    await row.locator(".title a").click()
    await expect(page.locator("h1")).to_have_text("高血压危象")
    await expect(page.locator(".actions h2")).to_have_text("操作")
    await shot(page, screenshots, "alert-detail-zh")
    assert nurse.errors == []
