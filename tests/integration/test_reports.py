"""The patient summary report over REST on real PostgreSQL (issue 13, part 1): readings stored,
the PDF rendered by the app, rasterised by poppler's `pdftoppm` (it renders) and read back by
`pdftotext` (it holds the figures), in English and Chinese; who may read it (the patient's team
and the patient: 200; another team: 404); no-store; audited."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from api import registry
from tests.integration.rest_world import World, api_client, seed, utc_now
from tests.integration.session_world import Clock, login, seed_accounts, session_client, sign_in

pytestmark = pytest.mark.asyncio

CGM_READINGS = 4030  # 14 days less two readings: 806 in each of the five ranges


async def _store(dsn: str, world: World) -> str:
    """14 days of 5-minute CGM cycling 50/60/100/200/300 mg/dL (a fifth in each consensus
    range, mean 142) and 8 days of home BP at 07:00 and 19:00 UTC: day 1 at 160/100 (ESH
    discards it), then 140/90 in the morning and 130/80 in the evening."""
    pid, now = world.teams[0].patients[0], utc_now()
    cgm, cuff = f"{world.tag}-cgm", f"{world.tag}-cuff"
    async with await psycopg.AsyncConnection.connect(dsn) as conn, conn.transaction():
        await registry.upsert_device(conn, cgm, "cgm", 300)
        await registry.upsert_device(conn, cuff, "bp_cuff", 43200)
        for device in (cgm, cuff):
            await registry.bind_device(conn, device, pid, now - timedelta(days=20),
                                       reason="test", changed_by="test")  # fmt: skip
        await conn.execute(
            "INSERT INTO readings (time, device_id, seq, metric, patient_id, value, unit,"
            " orig_value, orig_unit, received_at) SELECT t, %(d)s, k, 'glucose', %(p)s, v,"
            " 'mg/dL', v, 'mg/dL', t FROM generate_series(1, %(n)s) k,"
            " LATERAL (SELECT %(now)s - k * interval '5 minutes' AS t,"
            " (ARRAY[50, 60, 100, 200, 300])[k %% 5 + 1]::float8 AS v) x",
            {"d": cgm, "p": pid, "n": CGM_READINGS, "now": now},
        )
        today = now.replace(hour=0, minute=0, second=0, microsecond=0)
        seq = 0
        for day in range(8, 0, -1):
            for hour, sys_, dia in ((7, 140.0, 90.0), (19, 130.0, 80.0)):
                at, seq = today - timedelta(days=day) + timedelta(hours=hour), seq + 1
                values = (160.0, 100.0) if day == 8 else (sys_, dia)
                for metric, value in zip(("systolic_bp", "diastolic_bp"), values, strict=True):
                    await conn.execute(
                        "INSERT INTO readings (time, device_id, seq, metric, patient_id, value,"
                        " unit, orig_value, orig_unit, received_at)"
                        " VALUES (%s, %s, %s, %s, %s, %s, 'mm[Hg]', %s, 'mm[Hg]', %s)",
                        (at, cuff, seq, metric, pid, value, value, at),
                    )
    return pid


def _poppler(tool: str) -> str:
    path = shutil.which(tool)
    assert path, f"{tool} (poppler-utils) is installed by infra/web_assets.sh reports"
    return path


def _pdf_text(pdf: bytes, tmp_path: Path, name: str) -> str:
    source = tmp_path / f"{name}.pdf"
    source.write_bytes(pdf)
    subprocess.run([_poppler("pdftoppm"), "-png", "-r", "40", str(source), str(tmp_path / name)],
                   check=True, timeout=60)  # fmt: skip
    pages = sorted(tmp_path.glob(f"{name}-*.png"))
    assert pages and all(p.stat().st_size > 1000 for p in pages)
    out = subprocess.run([_poppler("pdftotext"), "-layout", str(source), "-"], check=True,
                         capture_output=True, timeout=60)  # fmt: skip
    return out.stdout.decode("utf-8")


@pytest.mark.parametrize(
    ("lang", "labels"),
    [("en", ("Time in ranges", "Home blood pressure", "Morning mean", "Hypertensive crisis")),
     ("zh", ("各血糖范围内时间占比", "家庭血压", "早晨均值", "高血压危象"))],  # the alert's title too
)  # fmt: skip
async def test_the_pdf_renders_and_holds_the_figures(
    dsn: str, tag: str, tmp_path: Path, lang: str, labels: tuple[str, ...]
) -> None:
    world = await seed(dsn, tag)
    pid = await _store(dsn, world)
    async with api_client(dsn) as c:
        r = await c.get(f"/api/v1/patients/{pid}/report",
                        params={"days": 14, "lang": lang, "format": "pdf"},
                        headers=world.bearer(0, "nurse"))  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["cache-control"] == "no-store"
    text = _pdf_text(r.content, tmp_path, lang)
    for label in labels:
        assert label in text
    assert text.count("20.0 %") >= 5  # each consensus range
    assert "142 mg/dL" in text  # the mean
    assert "6.7 %" in text  # GMI = 3.31 + 0.02392 x 142
    assert "135/85 mmHg" in text  # home mean, day 1 discarded
    assert "140/90 mmHg" in text and "130/80 mmHg" in text  # morning, evening


async def test_who_may_read_the_report(dsn: str, tag: str) -> None:
    world = await seed(dsn, tag)
    pid = world.teams[0].patients[0]
    url = f"/api/v1/patients/{pid}/report"
    async with api_client(dsn) as c:
        answers = {
            who: (await c.get(url, params={"format": "html"}, headers=world.bearer(team, role)))
            for who, (team, role) in {
                "own nurse": (0, "nurse"), "own doctor": (0, "doctor"), "the patient": (0, "patient"),
                "other nurse": (1, "nurse"), "other admin": (1, "admin"),
                "another patient": (1, "patient"), "a device": (0, "device"), "nobody": (0, "none"),
            }.items()
        }  # fmt: skip
        css = await c.get("/api/v1/reports/report.css")
    status = {who: r.status_code for who, r in answers.items()}
    assert status == {"own nurse": 200, "own doctor": 200, "the patient": 200,
                      "other nurse": 404, "other admin": 404, "another patient": 404,
                      "a device": 403, "nobody": 401}  # fmt: skip
    ok = answers["own nurse"]
    assert ok.headers["content-type"].startswith("text/html")
    assert ok.headers["cache-control"] == "no-store"
    assert world.teams[0].names[0] in ok.text
    assert world.teams[0].names[0] not in answers["other nurse"].text
    assert 'href="/api/v1/reports/report.css"' in ok.text and " style=" not in ok.text
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        cur = await conn.execute(
            "SELECT actor, role, detail->>'format' FROM audit_log"
            " WHERE resource = 'report' AND patient_id = %s ORDER BY id", (pid,))  # fmt: skip
        rows = await cur.fetchall()
    assert [(a, r) for a, r, _ in rows] == [(world.staff(0, "nurse"), "nurse"),
                                            (world.staff(0, "doctor"), "doctor"),
                                            (pid, "patient")]  # fmt: skip
    assert {f for *_, f in rows} == {"html"}


async def test_a_report_period_is_14_30_or_90_days(dsn: str, tag: str) -> None:
    world = await seed(dsn, tag)
    pid = world.teams[0].patients[0]
    async with api_client(dsn) as c:
        r = await c.get(f"/api/v1/patients/{pid}/report", params={"days": 7},
                        headers=world.bearer(0, "nurse"))  # fmt: skip
    assert r.status_code == 422


async def test_the_patient_page_links_the_report_in_the_viewers_language(
    dsn: str, tag: str
) -> None:
    w = await seed_accounts(dsn, tag)
    mine = w.teams[0].patients[0]
    async with session_client(dsn, Clock(utc_now())) as c:
        await sign_in(c, login(w, "doctor"))
        page = await c.get(f"/patients/{mine}")
        links = [
            html.unescape(h) for h in re.findall(r'href="(/api/v1/[^"]*/report\?[^"]*)"', page.text)
        ]
        pdf = await c.get(next(h for h in links if "format=pdf" in h))  # the session's cookie
        web = await c.get(next(h for h in links if "format=html" in h))
    assert page.status_code == 200
    assert sorted(links) == sorted(
        f"/api/v1/patients/{mine}/report?days={d}&lang=en&format={f}"
        for d in (14, 30, 90) for f in ("pdf", "html"))  # fmt: skip
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    assert web.status_code == 200 and "Patient summary" in web.text
