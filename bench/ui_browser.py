"""`publish_to_browser_p95_ms` of `vigil bench ui`: a device publishes a dangerous value over
MQTT -> the row is visible on a nurse's open worklist in headless Chromium, end to end through
the real `vigil run` (ingest, stream, alerts, the feed, the websocket, the row fragment, the DOM).

One trial per patient of the bench cohort with a glucose meter or CGM (each opens a new alert:
the device sends glucose 45 mg/dL, level 2 hypoglycaemia, which fires at once and reaches the
nurse; one SpO2 reading no longer does, by design: spo2.severe wants 3 minutes). The page
itself stamps when the patient's row enters the table (a MutationObserver,
`performance.timeOrigin + performance.now()`, the machine's clock); the bench stamps just
before the publish with the same clock. Trials run one after the other.

Must not: write product data with SQL of its own (enrol_demo and add_staff do).
"""

from __future__ import annotations

import secrets
import subprocess
import time
from datetime import UTC, datetime
from typing import Any

import orjson
from psycopg_pool import AsyncConnectionPool

from api.staff_accounts import add_staff
from bench import broker
from bench.database import enrolled
from bench.live import percentile
from bench.processes import Processes, wait_port
from simulators import payloads
from simulators.device import DeviceConnection, DeviceStats
from simulators.fleet import SimPatient, device_password
from simulators.profiles import Kind
from vigil.paths import REPO
from vigil.runtime import utc_now
from vigil.settings import Settings

PORT = 18762
LOGIN = "bench.browser"
CLIENT_ID = "vigil-bench-ui-browser"
ROW_TIMEOUT_MS = 15_000
_OBSERVE = """() => {
  window.__rowSeen = {};
  const tbody = document.getElementById("worklist-rows");
  new MutationObserver(() => {
    for (const row of tbody.rows) {
      const name = row.querySelector(".patient")?.textContent;
      if (name && !(name in window.__rowSeen)) {
        window.__rowSeen[name] = performance.timeOrigin + performance.now();
      }
    }
  }).observe(tbody, { childList: true });
}"""


def _chromium() -> str:
    out = subprocess.run([str(REPO / "infra" / "web_assets.sh"), "chromium"], check=True,
                         capture_output=True, text=True)  # fmt: skip
    return out.stdout.strip().splitlines()[-1]


GLUCOSE_KINDS = (Kind.GLUCOMETER, Kind.CGM)


def _has_glucose(p: SimPatient) -> bool:
    return any(d.profile.kind in GLUCOSE_KINDS for d in p.devices)


def _dangerous(p: SimPatient, seq: int) -> tuple[str, bytes]:
    device = next(d for d in p.devices if d.profile.kind in GLUCOSE_KINDS)
    doc = payloads.message(device.device_id, seq, datetime.now(UTC),
                           [payloads.reading("glucose", 45.0, "mg/dL")])  # fmt: skip
    return device.device_id, orjson.dumps(doc)


async def browser_figures(settings: Settings, trials: int) -> dict[str, Any]:
    from playwright.async_api import async_playwright  # a dev dependency, like the bench itself

    bench = await enrolled(settings)
    password = secrets.token_urlsafe(12)
    teams = sorted({p.team_id for p in bench.patients})
    async with AsyncConnectionPool(bench.dsn, min_size=1, max_size=1, open=False) as pool:
        await add_staff(pool, utc_now(), login=LOGIN, name="Bench nurse", role="nurse",
                        teams=teams, password=password)  # fmt: skip
    logs = bench.settings.state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = {"VIGIL_DB__DSN": bench.dsn, "VIGIL_API__PORT": str(PORT),
           "VIGIL_MQTT__CLIENT_ID": CLIENT_ID}  # fmt: skip
    procs = Processes(bench.settings, env, logs)
    procs.start("run")
    try:
        await procs.wait_for("embedded runner up", "run")
        await wait_port(PORT)
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
            try:
                page = await browser.new_page(base_url=f"http://127.0.0.1:{PORT}")
                await page.goto("/")
                await page.fill("#login", LOGIN)
                await page.fill("#password", password)
                await page.click("form[action='/auth/signin'] button[type=submit]")
                await page.wait_for_selector("#conn-state[data-state=live]")
                await page.evaluate(_OBSERVE)
                with_glucose = [p for p in bench.patients if _has_glucose(p)]
                times = await _trials(page, bench.settings, with_glucose[:trials])
            finally:
                await browser.close()
    finally:
        procs.stop()
        broker.close_session(bench.settings, CLIENT_ID)  # else its queue grows with every bench
    return {"publish_to_browser_p50_ms": round(percentile(times, 50), 1),
            "publish_to_browser_p95_ms": round(percentile(times, 95), 1),
            "publish_to_browser_trials": len(times)}  # fmt: skip


async def _trials(page: Any, settings: Settings, patients: list[SimPatient]) -> list[float]:
    secret = settings.sim.secret.get_secret_value()
    times = []
    for i, patient in enumerate(patients):
        device_id, payload = _dangerous(patient, 1_000_000 + i)
        conn = DeviceConnection(device_id, device_password(secret, device_id),
                                settings.mqtt.host, settings.mqtt.port, DeviceStats())  # fmt: skip
        await conn.connect()
        try:
            name = f"Patient {patient.index + 1}"
            start_ms = time.time() * 1000
            await conn.publish_raw(f"vigil/v1/devices/{device_id}/readings", payload)
            handle = await page.wait_for_function(
                "name => window.__rowSeen[name]", arg=name, timeout=ROW_TIMEOUT_MS
            )
            times.append(float(await handle.json_value()) - start_ms)
        finally:
            await conn.close()
    return times
