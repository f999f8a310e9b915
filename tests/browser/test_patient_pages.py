"""The patients list, the patient page and the roster in a real browser (issue 10, parts 4, 5
and 8): a nurse finds her patient by name (the search never puts it in the URL), the patient's
charts render (a CGM trace with meter points, blood pressure) over 7 and 90 days; another team's
patient page answers 404; the Chinese page translates the charts; an admin adds a shift on the roster page and it shows."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect
from psycopg_pool import AsyncConnectionPool

from api import registry
from ingest.bound import BoundMessage
from ingest.contract import DeviceMessage, Measurement
from simulators.fleet import SimPatient
from stream.sink import PgReadingStore
from tests.browser.conftest import add_account, shot, signed_in
from tests.integration.devices import enrol
from tests.integration.stack import Stack
from vigil.settings import Settings

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(150)]

DAYS = 90


def _message(device: str, seq: int, at: datetime, *readings: tuple[str, float, str]
             ) -> DeviceMessage:  # fmt: skip
    return DeviceMessage(device, seq, at, at,
                         tuple(Measurement(m, v, u, v, u) for m, v, u in readings))  # fmt: skip


async def readings(dsn: str, p: SimPatient, tag: str) -> None:
    """90 days of 5-minute CGM, four meter readings and two BP readings a day for `p`."""
    now = datetime.now(UTC)
    devices = {"cgm": f"{tag}-cgm", "glucometer": f"{tag}-meter", "bp_cuff": f"{tag}-cuff"}
    since = now - timedelta(days=DAYS + 1)
    async with (
        AsyncConnectionPool(dsn, min_size=1, max_size=1, open=False) as pool,
        pool.connection() as conn,
        conn.transaction(),
    ):
        for kind, device in devices.items():
            await registry.upsert_device(conn, device, kind, None)
            await registry.bind_device(conn, device, p.patient_id, since, reason="test",
                                       changed_by="test")  # fmt: skip
    step = timedelta(minutes=5)
    msgs = [BoundMessage(p.patient_id, _message(devices["cgm"], k + 1, now - k * step,
            ("glucose", round(140 + 70 * math.sin(k / 40) + 15 * math.sin(k / 5), 1), "mg/dL")),
            "cgm") for k in range(DAYS * 288)]  # fmt: skip
    msgs += [BoundMessage(p.patient_id, _message(devices["glucometer"], k + 1,
             now - k * timedelta(hours=6) - timedelta(minutes=2),
             ("glucose", 85.0 + (k % 7) * 25, "mg/dL")), "glucometer")
             for k in range(DAYS * 4)]  # fmt: skip
    msgs += [BoundMessage(p.patient_id, _message(devices["bp_cuff"], k + 1,
             now - k * timedelta(hours=12) - timedelta(minutes=7),
             ("systolic_bp", 128.0 + (k % 9) * 4, "mm[Hg]"),
             ("diastolic_bp", 78.0 + (k % 5) * 3, "mm[Hg]")), "bp_cuff")
             for k in range(DAYS * 2)]  # fmt: skip
    store = PgReadingStore(dsn)
    try:
        for i in range(0, len(msgs), 5000):
            await store.write(msgs[i : i + 5000])
    finally:
        await store.close()


async def test_a_nurse_finds_her_patient_and_the_charts_render(
    stack: Stack, browser: Browser, dsn: str, settings: Settings, tag: str, screenshots: Path
) -> None:
    patients, _ = await enrol(settings, dsn, tag, patients=4)
    mine = patients[0]
    theirs = next(p for p in patients if p.team_id != mine.team_id)
    await readings(dsn, mine, tag)
    await add_account(dsn, f"n.{tag}", "nurse", mine.team_id)
    nurse = await signed_in(browser, stack.api_url, f"n.{tag}")
    page = nurse.page

    await page.click("nav a[href='/patients']")
    await expect(page.locator("h1")).to_have_text("My patients")
    await shot(page, screenshots, "patients-list")
    name = f"Patient {mine.index + 1}"
    await page.fill("input[name=q]", name)
    await page.press("input[name=q]", "Enter")
    await expect(page.locator("#patients tbody tr")).to_have_count(1)
    assert name not in page.url and "q=" not in page.url  # the search was posted
    await page.click(f"#patients a:text-is('{name}')")

    await expect(page.locator("h1")).to_have_text(name)
    for chart in ("glucose", "blood_pressure"):
        await expect(page.locator(f"#chart-{chart} canvas")).to_have_count(1)
    await expect(page.locator("figure:has(#chart-glucose) .chart-legend")).to_contain_text(
        "Target range 70–180"
    )
    await shot(page, screenshots, "patient-7d")
    await page.click("nav.ranges a:text-is('90 days')")
    await expect(page.locator("nav.ranges a[aria-current=true]")).to_have_text("90 days")
    await expect(page.locator("#chart-glucose canvas")).to_have_count(1)
    await expect(page.locator("figure:has(#chart-glucose) .chart-legend")).to_contain_text(
        "lowest and highest"
    )  # 90 days of CGM: downsampled, and the page says so
    await shot(page, screenshots, "patient-90d")

    other = await page.goto(f"{stack.api_url}/patients/{theirs.patient_id}")
    assert other is not None and other.status == 404
    await expect(page.locator("h1")).to_have_text("Not found")
    assert f"Patient {theirs.index + 1}" not in await page.content()
    await shot(page, screenshots, "patient-other-team-404")

    await add_account(dsn, f"zh.{tag}", "nurse", mine.team_id, locale="zh-CN")
    zh = await signed_in(browser, stack.api_url, f"zh.{tag}")
    await zh.page.goto(f"{stack.api_url}/patients/{mine.patient_id}?range=30d")
    await expect(zh.page.locator("#chart-glucose-title")).to_have_text("血糖 (mg/dL)")
    await expect(zh.page.locator("figure:has(#chart-glucose) .chart-legend")).to_contain_text(
        "目标范围 70–180"
    )
    await expect(zh.page.locator("#chart-blood_pressure canvas")).to_have_count(1)
    await shot(zh.page, screenshots, "patient-zh")

    # the summary report as a web page, in the viewer's language, under the workspace's CSP
    async with zh.page.expect_popup() as opened:
        await zh.page.click("section.report-links p a:text-is('30 天')")
    report = await opened.value
    await expect(report.locator("h1")).to_have_text("患者监测摘要")
    await expect(report.locator("section.glucose img")).to_have_count(3)  # AGP, days, meter
    loaded = await report.locator("img").evaluate_all("imgs => imgs.map(i => i.naturalWidth)")
    assert loaded and all(w > 0 for w in loaded)
    size = await report.locator("h1").evaluate("e => getComputedStyle(e).fontSize")
    assert size == "20px"  # 15pt: the linked style sheet applies
    await shot(report, screenshots, "patient-report-zh")
    assert nurse.errors == [] and zh.errors == []


async def test_an_admin_adds_a_shift_on_the_roster_page(
    stack: Stack, browser: Browser, dsn: str, settings: Settings, tag: str, screenshots: Path
) -> None:
    patients, _ = await enrol(settings, dsn, tag, patients=1)
    team = patients[0].team_id
    await add_account(dsn, f"adm.{tag}", "admin", team)
    admin = await signed_in(browser, stack.api_url, f"adm.{tag}")
    page = admin.page
    await page.click("nav a[href='/roster']")
    await expect(page.locator(".on-call").first).to_contain_text("Nurse of")  # the demo roster
    await shot(page, screenshots, "roster")

    form = page.locator("form[data-kind=shift]").first
    await form.locator("select[name=staff_id]").select_option(f"nurse-{team}")
    await form.locator("input[name=weekdays][value='5']").check()
    await form.locator("input[name=start_time]").fill("07:30")
    await form.locator("input[name=end_time]").fill("19:30")
    await form.locator("button[type=submit]").click()
    await expect(page.locator(".week")).to_contain_text("07:30–19:30", timeout=10_000)

    refused = page.locator("form[data-kind=override]").first
    await refused.locator("input[name=starts_at]").fill("2030-01-02T10:00")
    await refused.locator("input[name=ends_at]").fill("2030-01-01T10:00")
    await refused.locator("button[type=submit]").click()
    await expect(page.locator("#roster-result")).to_contain_text("ends after it starts")
    await shot(page, screenshots, "roster-edited")
    assert admin.errors == []
