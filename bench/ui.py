"""`vigil bench ui`: server time of the clinician workspace's data (issue 10).

- `worklist_p95_ms`: `GET /api/v1/worklist` for the charge nurse of every team, who sees all
  `--open-alerts` (2,000) open alerts across `--ui-patients` (10,000) patients.
- `patient_chart_p95_ms`: `GET /api/v1/patients/{id}/chart?chart=glucose&range=90d` for a patient
  with 90 days of 5-minute CGM readings (and four meter readings a day): bucketing in the
  database, at most 2,000 points per series.
- `caseload_p95_ms`: `GET /api/v1/caseload` for one team's nurse (200 patients, latest vitals).
- `worklist_page_p95_ms`: `GET /`, the worklist page as HTML (2,000 rows rendered, translated and
  formatted) for the signed-in charge nurse.
- `publish_to_browser_p95_ms`: MQTT publish -> row visible on an open worklist in headless
  Chromium, through a real `vigil run` (bench.ui_browser), `BROWSER_TRIALS` trials.

Server time: the ASGI app runs in this process, driven through httpx's ASGI transport (routing,
authentication, the queries, the audit rows, validation and JSON included; no network), on its
own database (`vigil_bench_ui`, re-created each run). Each figure is the nearest-rank percentile
of `--trials` requests after `WARMUP` unmeasured ones.
Must not: write product data with SQL of its own (bench.ui_seed uses the product's functions).
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from psycopg_pool import AsyncConnectionPool

from alerts.response import PgResponse
from api.app import create_app
from api.auth import issue_token
from api.feed import AlertFeed
from api.staff_accounts import add_staff
from bench import ui_seed
from bench.database import BENCH_DB, bench_database
from bench.live import percentile
from bench.ui_browser import browser_figures
from vigil.settings import Settings

UI_DB = f"{BENCH_DB}_ui"
WARMUP = 5
CGM_DAYS = 90
BROWSER_TRIALS = 20
BROWSER_NOTE = "publish_to_browser: device publish over MQTT -> row in the DOM of an open worklist"


def machine() -> dict[str, Any]:
    load1, load5, _ = os.getloadavg()
    return {"cores": os.cpu_count(), "load_1m_at_start": round(load1, 2),
            "load_5m_at_start": round(load5, 2)}  # fmt: skip


async def _timed(call: Callable[[], Awaitable[httpx.Response]], trials: int) -> list[float]:
    for _ in range(WARMUP):
        (await call()).raise_for_status()
    times = []
    for _ in range(trials):
        start = time.perf_counter()
        r = await call()
        times.append((time.perf_counter() - start) * 1000)
        r.raise_for_status()
    return times


def _figures(name: str, times: list[float]) -> dict[str, float]:
    return {f"{name}_p50_ms": round(percentile(times, 50), 1),
            f"{name}_p95_ms": round(percentile(times, 95), 1)}  # fmt: skip


async def _seed(pool: AsyncConnectionPool, dsn: str, patients: int, alerts: int
                ) -> tuple[ui_seed.World, dict[str, float]]:  # fmt: skip
    now = datetime.now(UTC)
    t0 = time.perf_counter()
    world = await ui_seed.enrol(pool, patients)
    t1 = time.perf_counter()
    await ui_seed.open_alerts(pool, world, alerts, now)
    t2 = time.perf_counter()
    world = await ui_seed.readings(pool, dsn, world, now, CGM_DAYS)
    t3 = time.perf_counter()
    return world, {"seed_enrol_s": round(t1 - t0, 1), "seed_alerts_s": round(t2 - t1, 1),
                   "seed_readings_s": round(t3 - t2, 1)}  # fmt: skip


async def _sign_in_charge_nurse(
    pool: AsyncConnectionPool, c: httpx.AsyncClient, teams: list[str]
) -> None:
    """The charge nurse signed in (the session cookie kept by `c`): the worklist page's reader."""
    password = secrets.token_urlsafe(12)
    await add_staff(pool, datetime.now(UTC), login="ui.charge", name="Charge nurse", role="nurse",
                    teams=teams, password=password, staff_id=ui_seed.CHARGE)  # fmt: skip
    r = await c.post("/auth/signin", data={"login": "ui.charge", "password": password},
                     headers={"Accept": "application/json"})  # fmt: skip
    r.raise_for_status()


async def ui_figures(settings: Settings, patients: int, alerts: int, trials: int) -> dict[str, Any]:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request otherwise
    figures: dict[str, Any] = machine()
    dsn, mode = bench_database(settings, UI_DB)
    figures["storage_mode"] = mode
    async with AsyncConnectionPool(dsn, min_size=2, max_size=4, open=False) as pool:
        world, seeding = await _seed(pool, dsn, patients, alerts)
        now = datetime.now(UTC)
        charge = await issue_token(pool, ui_seed.CHARGE, now, timedelta(hours=1))
        nurse = await issue_token(pool, f"nurse-{world.teams[0]}", now, timedelta(hours=1))
        app = create_app(pool=pool, feed=AlertFeed(pool, dsn), clock=lambda: datetime.now(UTC),
                         allowed_origins=[], storage_mode=mode,
                         response=PgResponse(pool, lambda: datetime.now(UTC)))  # fmt: skip
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench.ui") as c:
            as_charge = {"Authorization": f"Bearer {charge}"}
            as_nurse = {"Authorization": f"Bearer {nurse}"}
            work = await c.get("/api/v1/worklist", headers=as_charge)
            chart = await c.get(
                f"/api/v1/patients/{world.chart_patient}/chart",
                params={"chart": "glucose", "range": "90d"},
                headers=as_nurse,
            )
            figures |= {
                "patients": patients,
                "open_alerts_seen": len(work.json()["items"]),
                "cgm_readings": world.cgm_readings,
                "chart_points": {s["key"]: len(s["t"]) for s in chart.json()["series"]},
            }
            figures |= _figures(
                "worklist",
                await _timed(lambda: c.get("/api/v1/worklist", headers=as_charge), trials),
            )
            figures |= _figures(
                "patient_chart",
                await _timed(
                    lambda: c.get(
                        f"/api/v1/patients/{world.chart_patient}/chart",
                        params={"chart": "glucose", "range": "90d"},
                        headers=as_nurse,
                    ),
                    trials,
                ),
            )
            figures |= _figures("caseload", await _timed(
                lambda: c.get("/api/v1/caseload", headers=as_nurse), trials))  # fmt: skip
            await _sign_in_charge_nurse(pool, c, world.teams)
            figures |= _figures("worklist_page", await _timed(lambda: c.get("/"), trials))
    figures |= await browser_figures(settings, BROWSER_TRIALS)
    figures["trials"] = trials
    return figures | seeding
