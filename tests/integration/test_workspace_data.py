"""The workspace's data endpoints on real PostgreSQL (issue 10): the worklist (scope, tiers,
order, the feed's seq), chart data (the point cap, every bucket's minimum and maximum kept, CGM
vs meter, thresholds with the patient's override, targets, a window around an alert), the
caseload (scope, search, sort, latest values, the care program's risk) and the patient page's overview (another team's
patient is 404, alert outcomes, tier-1 messages with their delivery state)."""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from alerts.repository import PgAlertStore
from api import registry
from api.auth import Principal
from api.queries.readings import BUCKET_ORIGIN
from api.workspace import models
from api.workspace.worklist import WorklistFilter, worklist
from stream.detections import Detection, Severity, Worse, detection_id
from tests.integration.conftest import Databases
from tests.integration.rest_world import World, api_client, seed, utc_now

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(120)]

V1 = "/api/v1"
HOUR = timedelta(hours=1)
SEVERITY_RANK = {"critical": 0, "high": 1, "moderate": 2, "info": 3}


def detection(
    rule: str, severity: Severity, patient: str, device: str, seq: int, metric: str,
    value: float, *, worse: Worse = Worse.HIGHER, dangerous: bool = False, ago_min: int = 10,
) -> Detection:  # fmt: skip
    return Detection(
        id=detection_id(rule, patient, device, seq, metric), rule_id=rule, title=rule,
        severity=severity, worse=worse, patient_id=patient, device_id=device, seq=seq,
        metric=metric, value=value, unit="mg/dL" if metric == "glucose" else "mm[Hg]",
        measured_at=utc_now() - timedelta(minutes=ago_min), dangerous=dangerous,
    )  # fmt: skip


async def more_alerts(dsn: str, w: World) -> None:
    """Team 0's second patient: a level-2 low (critical, dangerous), a persisting high glucose
    (moderate: tier 1, the patient is prompted) and a BP crisis prompt (high, tier 2)."""
    t = w.teams[0]
    p = t.patients[1]
    async with AsyncConnectionPool(dsn, min_size=1, max_size=2, open=False) as pool:
        await PgAlertStore(pool, utc_now).record([
            detection("glucose.level2_low", Severity.CRITICAL, p, t.device, 11, "glucose", 48.0,
                      worse=Worse.LOWER, dangerous=True, ago_min=5),
            detection("glucose.high", Severity.MODERATE, p, t.device, 12, "glucose", 290.0),
            detection("bp.crisis_suspected", Severity.HIGH, p, t.device, 13, "systolic_bp",
                      185.0, dangerous=True, ago_min=20),
        ])  # fmt: skip


async def test_worklist_is_scoped_ordered_and_carries_the_feed_seq(dsn: str, tag: str) -> None:
    w = await seed(dsn, tag)
    await more_alerts(dsn, w)
    async with api_client(dsn) as c:
        nurse = (await c.get(f"{V1}/worklist", headers=w.bearer(0, "nurse"))).json()
        doctor = (await c.get(f"{V1}/worklist", headers=w.bearer(0, "doctor"))).json()
        admin = (await c.get(f"{V1}/worklist", headers=w.bearer(0, "admin"))).json()
        other = await c.get(f"{V1}/worklist?team_id={w.teams[1].id}", headers=w.bearer(0, "nurse"))
        critical = await c.get(f"{V1}/worklist?severity=critical", headers=w.bearer(0, "nurse"))
        patient = await c.get(f"{V1}/worklist", headers=w.bearer(0, "patient"))
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT max(seq) FROM alert_events").fetchone()
    assert row is not None and nurse["seq"] == row[0]
    models.Worklist.model_validate(nurse)  # the JSON is what the OpenAPI schema says
    assert (other.status_code, patient.status_code) == (404, 403)
    assert {r["team_id"] for r in admin["items"]} == {w.teams[0].id}
    assert all(name not in str(nurse) for t in w.teams[1:] for name in t.names)
    # the nurse watches tiers 2 and 3: the tier-1 high glucose is the patient's, not hers
    assert {r["rule_id"] for r in nurse["items"]} == {
        "bp.crisis", "glucose.level2_low", "bp.crisis_suspected"}  # fmt: skip
    assert "glucose.high" in {r["rule_id"] for r in admin["items"]}
    assert {r["tier"] for r in doctor["items"]} == {3} and nurse["tiers"] == [2, 3]
    keys = [(SEVERITY_RANK[r["severity"]], r["deadline"]) for r in nurse["items"]]
    assert keys == sorted(keys), "most severe first, then the nearest deadline"
    assert [r["severity"] for r in critical.json()["items"]] == ["critical", "critical"]
    low = next(r for r in nurse["items"] if r["rule_id"] == "glucose.level2_low")
    assert (low["worst_value"], low["unit"], low["dangerous"]) == (48.0, "mg/dL", True)
    assert low["patient_name"] == w.teams[0].names[1] and low["due"] == "ack"


async def test_mine_lists_what_i_acknowledged(dsn: str, tag: str) -> None:
    w = await seed(dsn, tag)
    await more_alerts(dsn, w)
    nurse = w.bearer(0, "doctor")  # the seeded crisis is at tier 3 (nobody else is on call)
    async with api_client(dsn) as c:
        before = (await c.get(f"{V1}/worklist?mine=true", headers=nurse)).json()
        ack = await c.post(f"{V1}/alerts/{w.teams[0].alert_id}/acknowledge", headers=nurse,
                           json={})  # fmt: skip
        after = (await c.get(f"{V1}/worklist?mine=true", headers=nurse)).json()
    assert ack.status_code == 200, ack.text
    assert before["items"] == [] and [r["id"] for r in after["items"]] == [w.teams[0].alert_id]
    assert after["items"][0]["status"] == "acknowledged" and after["seq"] > before["seq"]


async def test_one_alerts_row_and_its_assignees_name(dsn: str, tag: str) -> None:
    w = await seed(dsn, tag)
    t = w.teams[0]
    nurse = w.staff(0, "nurse")
    async with api_client(dsn) as c:
        assigned = await c.post(f"{V1}/alerts/{t.alert_id}/assign", headers=w.bearer(0, "doctor"),
                                json={"staff_id": nurse})  # fmt: skip
    assert assigned.status_code == 200, assigned.text
    async with AsyncConnectionPool(dsn, min_size=1, max_size=1, open=False) as pool:
        doctor = Principal(w.staff(0, "doctor"), "doctor", frozenset({t.id}), utc_now() + HOUR)
        mine = WorklistFilter(alert_id=uuid.UUID(t.alert_id))
        found = await worklist(pool, doctor, mine, utc_now())
        other = await worklist(pool, doctor, WorklistFilter(alert_id=uuid.UUID(w.teams[1].alert_id)),
                               utc_now())  # fmt: skip
    assert [(r["id"], r["assigned_to"], r["assignee_name"]) for r in found.items] == [
        (uuid.UUID(t.alert_id), nurse, "nurse 0")]  # fmt: skip
    assert other.items == []


CGM_DAYS = 90


async def cgm_and_meter(dsn: str, patient: str, tag: str) -> tuple[datetime, str]:
    """90 days of 5-minute CGM readings (a daily sine and a wobble) and 4 meter readings a day."""
    now = utc_now().replace(microsecond=0)
    cgm, meter = f"{tag}-cgm", f"{tag}-meter"
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        await registry.upsert_device(conn, cgm, "cgm", 300)
        await registry.upsert_device(conn, meter, "glucometer", None)
        for device, step, shape in ((cgm, "5 minutes", "130 + 60 * sin(k / 40.0) + (k %% 7) * 3"),
                                    (meter, "6 hours", "100 + (k %% 5) * 20")):  # fmt: skip
            await conn.execute(
                "INSERT INTO readings (time, device_id, seq, metric, patient_id, value, unit,"
                " orig_value, orig_unit, received_at)"
                f" SELECT t, %(d)s, k, 'glucose', %(p)s, {shape}, 'mg/dL', {shape}, 'mg/dL', t"
                "   FROM (SELECT %(now)s - (%(step)s::interval * k) AS t, k"
                "           FROM generate_series(1, %(n)s) AS k) g",
                {"d": device, "p": patient, "now": now, "step": step,
                 "n": CGM_DAYS * 288 if device == cgm else CGM_DAYS * 4},
            )  # fmt: skip
        await conn.commit()
    return now, cgm


def raw(dsn: str, patient: str, device: str) -> list[tuple[float, float]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT extract(epoch FROM time)::float8, value FROM readings"
            " WHERE patient_id = %s AND device_id = %s ORDER BY time",
            (patient, device),
        ).fetchall()
    return [(float(t), float(v)) for t, v in rows]


def bucket_extremes(readings: list[tuple[float, float]], since: float, until: float,
                    width: int) -> dict[int, tuple[float, float]]:  # fmt: skip
    origin = datetime.fromisoformat(BUCKET_ORIGIN).timestamp()
    out: dict[int, tuple[float, float]] = {}
    for t, v in readings:
        if since <= t < until:
            b = math.floor((t - origin) / width)
            lo, hi = out.get(b, (v, v))
            out[b] = (min(lo, v), max(hi, v))
    return out


@pytest.mark.parametrize("mode", ["plain", "timescaledb"])
async def test_a_90_day_cgm_chart_is_capped_and_keeps_every_bucket_extreme(
    databases: Databases, tag: str, mode: str
) -> None:
    dsn = databases.create_in_mode(tag, mode)
    w = await seed(dsn, tag)
    pid = w.teams[0].patients[1]
    await cgm_and_meter(dsn, pid, tag)
    async with api_client(dsn) as c:
        r = await c.get(f"{V1}/patients/{pid}/chart?chart=glucose&range=90d",
                        headers=w.bearer(0, "nurse"))  # fmt: skip
        day = (await c.get(f"{V1}/patients/{pid}/chart?chart=glucose&range=24h",
                           headers=w.bearer(0, "nurse"))).json()  # fmt: skip
    assert r.status_code == 200, r.text
    chart = r.json()
    series = {s["key"]: s for s in chart["series"]}
    assert set(series) == {"cgm", "meter"}
    cgm, meter = series["cgm"], series["meter"]
    assert 1000 < len(cgm["t"]) <= chart["max_points"] == 2000 and cgm["downsampled"]
    assert cgm["t"] == sorted(cgm["t"]) and cgm["unit"] == "mg/dL"
    assert len(meter["t"]) == CGM_DAYS * 4 - 1 and not meter["downsampled"]  # the oldest: 90d ago
    since, until = (datetime.fromisoformat(chart[k]).timestamp() for k in ("since", "until"))
    expected = bucket_extremes(raw(dsn, pid, f"{tag}-cgm"), since, until, chart["bucket_s"])
    got = bucket_extremes(list(zip(cgm["t"], cgm["v"], strict=True)), since, until,
                          chart["bucket_s"])  # fmt: skip
    assert got == expected, "each bucket's minimum and maximum, at their own times"
    assert chart["storage_mode"] == mode
    day_cgm = next(s for s in day["series"] if s["key"] == "cgm")
    assert len(day_cgm["t"]) == 287 and not day_cgm["downsampled"]  # every reading of a day


async def test_chart_draws_the_thresholds_in_effect_and_the_targets(dsn: str, tag: str) -> None:
    w = await seed(dsn, tag)
    pid = w.teams[0].patients[0]
    async with api_client(dsn) as c:
        override = await c.post(
            f"{V1}/patients/{pid}/thresholds", headers=w.bearer(0, "admin"),
            json={"rule_id": "bp.crisis", "params": {"thresholds": [170, 110]},
                  "reason": "after a stroke"},
        )  # fmt: skip
        bp = (await c.get(f"{V1}/patients/{pid}/chart?chart=blood_pressure&range=7d",
                          headers=w.bearer(0, "nurse"))).json()  # fmt: skip
        glucose = (await c.get(f"{V1}/patients/{pid}/chart?chart=glucose",
                               headers=w.bearer(0, "doctor"))).json()  # fmt: skip
        around = await c.get(f"{V1}/patients/{pid}/chart?around={w.teams[0].alert_id}",
                             headers=w.bearer(0, "nurse"))  # fmt: skip
        elsewhere = await c.get(f"{V1}/patients/{pid}/chart?around={w.teams[1].alert_id}",
                                headers=w.bearer(0, "nurse"))  # fmt: skip
    assert override.status_code == 201, override.text
    lines = {(t["rule_id"], t["metric"]): t for t in bp["thresholds"]}
    assert (lines["bp.crisis", "systolic_bp"]["value"], lines["bp.crisis", "systolic_bp"]["version"]
            ) == (170.0, "v1")  # fmt: skip
    assert lines["bp.crisis", "diastolic_bp"]["value"] == 110.0
    assert (lines["bp.crisis_suspected", "systolic_bp"]["value"],
            lines["bp.crisis_suspected", "systolic_bp"]["version"]) == (180.0, "default")  # fmt: skip
    assert {(t["metric"], t["high"]) for t in bp["targets"]} == {
        ("systolic_bp", 135.0), ("diastolic_bp", 85.0)}  # fmt: skip
    assert [s["key"] for s in bp["series"]] == ["systolic_bp"]
    assert bp["series"][0]["v"] == [120.0 + k for k in range(6)]
    assert [(t["low"], t["high"]) for t in glucose["targets"]] == [(70.0, 180.0)]
    assert {t["rule_id"] for t in glucose["thresholds"]} >= {"glucose.level2_low", "glucose.high"}
    assert around.status_code == 200 and around.json()["chart"] == "blood_pressure"
    assert around.json()["since"] < around.json()["until"]
    assert elsewhere.status_code == 404


async def test_another_teams_patient_is_not_found(dsn: str, tag: str) -> None:
    w = await seed(dsn, tag)
    theirs = w.teams[1].patients[0]
    async with api_client(dsn) as c:
        answers = [
            await c.get(f"{V1}/patients/{theirs}/chart?chart=blood_pressure",
                        headers=w.bearer(0, "nurse")),
            await c.get(f"{V1}/patients/{theirs}/overview", headers=w.bearer(0, "doctor")),
            await c.get(f"{V1}/patients/nobody/overview", headers=w.bearer(0, "admin")),
            await c.get(f"{V1}/caseload?team_id={w.teams[1].id}", headers=w.bearer(0, "nurse")),
        ]  # fmt: skip
    assert [a.status_code for a in answers] == [404, 404, 404, 404]
    assert all(name not in a.text for a in answers for name in w.teams[1].names)


async def test_caseload_searches_sorts_and_shows_latest_values(dsn: str, tag: str) -> None:
    w = await seed(dsn, tag)
    await more_alerts(dsn, w)
    nurse = w.bearer(0, "nurse")
    t = w.teams[0]
    async with api_client(dsn) as c:
        by_severity = (await c.get(f"{V1}/caseload", headers=nurse)).json()
        by_reading = (await c.get(f"{V1}/caseload?sort=last_reading", headers=nurse)).json()
        by_name = (await c.get(f"{V1}/caseload?sort=name&order=desc", headers=nurse)).json()
        found = (await c.get(f"{V1}/caseload?q={t.names[1][-6:].lower()}", headers=nurse)).json()
        by_id = (await c.get(f"{V1}/caseload?q={t.patients[0]}", headers=nurse)).json()
    assert by_severity["total"] == 2
    first, second = by_severity["items"]
    assert (first["id"], first["open_alerts"], first["worst_open_severity"]) == (
        t.patients[1], 3, "critical")  # fmt: skip
    assert (second["open_alerts"], second["risk_tier"]) == (1, None)
    assert second["latest"]["systolic_bp"]["value"] == 125.0 and second["last_reading_at"]
    assert [p["id"] for p in by_reading["items"]] == t.patients  # never measured: last
    assert [p["display_name"] for p in by_name["items"]] == sorted(t.names, reverse=True)
    assert [p["id"] for p in found["items"]] == [t.patients[1]]
    assert [p["id"] for p in by_id["items"]] == [t.patients[0]]


def set_risk(dsn: str, rows: list[tuple[str, str, list[str], datetime]]) -> None:
    """What the care program's risk pass stores (program.risk), written directly."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for patient, tier, tags, since in rows:
            conn.execute(
                "INSERT INTO patient_risk (patient_id, tier, tags, tier_since, computed_at)"
                " VALUES (%s, %s, %s, %s, now())",
                (patient, tier, tags, since),
            )


async def test_caseload_ranks_by_the_care_programs_risk(dsn: str, tag: str) -> None:
    w = await seed(dsn, tag)
    await more_alerts(dsn, w)
    t = w.teams[0]
    set_risk(dsn, [(t.patients[0], "high", ["not_measuring", "level2_hypo"], utc_now()),
                   (t.patients[1], "medium", ["uncontrolled_bp"], utc_now() - HOUR)])  # fmt: skip
    async with api_client(dsn) as c:
        by_risk = (await c.get(f"{V1}/caseload?sort=risk", headers=w.bearer(0, "nurse"))).json()
    assert [(p["id"], p["risk_tier"], p["risk_tags"]) for p in by_risk["items"]] == [
        (t.patients[0], "high", ["not_measuring", "level2_hypo"]),
        (t.patients[1], "medium", ["uncontrolled_bp"]),
    ]  # the high tier first, although the other patient has the critical alert


async def test_overview_has_header_history_messages_and_silences(dsn: str, tag: str) -> None:
    w = await seed(dsn, tag)
    await more_alerts(dsn, w)
    t = w.teams[0]
    pid = t.patients[1]
    doctor = w.bearer(0, "doctor")
    async with api_client(dsn) as c:
        silence = await c.post(
            f"{V1}/patients/{pid}/silences", headers=doctor,
            json={"rule_id": "glucose.high", "reason": "steroid course",
                  "ends_at": (utc_now() + timedelta(days=2)).isoformat()},
        )  # fmt: skip
        r = await c.get(f"{V1}/patients/{pid}/overview", headers=doctor)
    assert silence.status_code == 201, silence.text
    assert r.status_code == 200, r.text
    page: dict[str, Any] = r.json()
    head = page["patient"]
    assert (head["display_name"], head["team_id"], head["team_name"], head["birth_date"]) == (
        t.names[1], t.id, "Team 0", None)  # fmt: skip
    assert {a["rule_id"] for a in page["alerts"]} == {
        "glucose.level2_low", "glucose.high", "bp.crisis_suspected"}  # fmt: skip
    prompts = [m for m in page["messages"] if m["alert_id"] is not None]
    assert prompts and {m["delivery"] for m in prompts} <= {"pending", "waiting_for_device"}
    assert [s["reason"] for s in page["silences"]] == ["steroid course"]
    with psycopg.connect(dsn) as conn:
        audited = conn.execute(
            "SELECT count(*) FROM audit_log WHERE resource = 'patient_page' AND patient_id = %s",
            (pid,),
        ).fetchone()
    assert audited == (1,)
