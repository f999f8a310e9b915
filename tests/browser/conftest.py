"""Browser tests (issue 10, part 8): headless Chromium, driven by Playwright for Python, against
a real `vigil run` (Mosquitto, PostgreSQL, the app) on a private port.

The browser is Debian's `chromium`, installed by infra/web_assets.sh when absent (with CJK fonts
for the Chinese pages), never a browser Playwright downloads. Each test gets its own database,
stack and browser; screenshots of every page a test visits go to `$VIGIL_STATE_DIR/screenshots/`
(outside git) for reviewers.
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright
from psycopg_pool import AsyncConnectionPool

from api.staff_accounts import add_staff
from tests.conftest import REPO
from tests.integration import conftest as integration
from tests.integration.stack import Stack, running_stack
from vigil.runtime import utc_now
from vigil.settings import Settings

PASSWORD = "correct horse battery"

# the integration tests' fixtures: services, a database per test, a tag, MQTT clients closed
settings = integration.settings
databases = integration.databases
dsn = integration.dsn
tag = integration.tag
mqtt_clients_closed = integration.mqtt_clients_closed


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in item.nodeid:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium (installed now if absent): its path."""
    script = REPO / "infra" / "web_assets.sh"
    out = subprocess.run([str(script), "chromium"], check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def screenshots(settings: Settings) -> Path:
    folder = settings.state_dir.resolve() / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest_asyncio.fixture
async def browser(chromium: str) -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            yield b
        finally:
            await b.close()


@pytest_asyncio.fixture
async def stack(settings: Settings, dsn: str, tag: str, tmp_path: Path) -> AsyncIterator[Stack]:
    async with running_stack(settings, dsn, tag, "embedded", tmp_path) as s:
        yield s


async def add_account(dsn: str, login: str, role: str, team: str, locale: str = "en") -> str:
    async with AsyncConnectionPool(dsn, min_size=1, max_size=1, open=False) as pool:
        return await add_staff(pool, utc_now(), login=login, name=f"{role.title()} {login[:6]}",
                               role=role, teams=[team], password=PASSWORD, locale=locale,
                               time_zone="Asia/Shanghai")  # fmt: skip


@dataclass
class Person:
    """One signed-in person in a browser context of their own, and the script errors seen."""

    page: Page
    errors: list[str] = field(default_factory=list)


async def signed_in(browser: Browser, base: str, login: str) -> Person:
    """A new browser context (its own cookies), signed in through the sign-in page."""
    context = await browser.new_context(base_url=base, viewport={"width": 1360, "height": 820},
                                        locale="en-GB")  # fmt: skip
    page = await context.new_page()
    person = Person(page)
    page.on("pageerror", lambda error: person.errors.append(str(error)))
    await page.goto("/")
    await page.fill("#login", login)
    await page.fill("#password", PASSWORD)
    await page.click("form[action='/auth/signin'] button[type=submit]")
    await page.wait_for_url(f"{base}/")
    return person


async def shot(page: Page, folder: Path, name: str) -> None:
    await page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def live(page: Page) -> Any:
    return page.wait_for_selector("#conn-state[data-state=live]", timeout=10_000)
