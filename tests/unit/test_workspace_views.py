"""The words and numbers of the patients list, the patient page and the roster page (pure view
functions of api.web.patient_views and api.web.roster_views, and the delivery state of a tier-1
message), in both languages where the words matter."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest

from api.schemas import OnCallTier, Roster, RosterOverride, Shift
from api.web import patient_views as pv
from api.web import roster_views as rv
from api.web.i18n import Catalog, catalogs
from api.workspace.models import (
    CaseloadRow,
    Chart,
    ChartTarget,
    ChartThreshold,
    LatestValue,
    PatientMessage,
)
from api.workspace.patient import delivery
from api.workspace.roster import Member, TeamView

NOW = datetime(2026, 12, 3, 4, 0, tzinfo=UTC)  # a Thursday
EN, ZH = catalogs()["en"], catalogs()["zh"]


def caseload_row(**latest: tuple[float, str]) -> CaseloadRow:
    return CaseloadRow(
        id="p1", display_name="Wang Fang", team_id="t1", tz="Asia/Shanghai",
        responsible_doctor=None, last_reading_at=NOW - timedelta(hours=3, minutes=5),
        latest={m: LatestValue(value=v, unit=u, at=NOW) for m, (v, u) in latest.items()},
        open_alerts=2, worst_open_severity="critical", risk_tier="high",
        risk_tags=["not_measuring"],
    )  # fmt: skip


@pytest.mark.parametrize(
    ("latest", "vitals"),
    [
        ({"systolic_bp": (142.4, "mm[Hg]"), "diastolic_bp": (88.0, "mm[Hg]")},
         ["142/88 mmHg", "", "", "", ""]),
        ({"systolic_bp": (125.0, "mm[Hg]")}, ["125/– mmHg", "", "", "", ""]),
        ({"glucose": (46.84, "mg/dL"), "weight": (81.26, "kg"), "spo2": (93.0, "%"),
          "heart_rate": (71.6, "/min")}, ["", "47 mg/dL", "81.3 kg", "93 %", "72 /min"]),
        ({}, ["", "", "", "", ""]),
    ],
)  # fmt: skip
def test_list_rows_show_latest_vitals_at_clinical_precision(
    latest: dict[str, tuple[float, str]], vitals: list[str]
) -> None:
    row = pv.list_row(caseload_row(**latest), EN, "Asia/Shanghai", NOW)
    assert row.vitals == vitals
    assert (row.severity_icon, row.severity_label, row.last_reading_age) == (
        "◆", "Critical", "3 h 05 min ago")  # fmt: skip
    assert row.last_reading == "2026-12-03 08:55 CST"


@pytest.mark.parametrize(("catalog", "words"), [(EN, ("High", ["Stopped measuring"])),
                                               (ZH, ("高", ["已停止测量"]))])  # fmt: skip
def test_list_rows_say_the_risk_tier_and_why_in_the_viewers_language(
    catalog: Catalog, words: tuple[str, list[str]]
) -> None:
    row = pv.list_row(caseload_row(), catalog, "Asia/Shanghai", NOW)
    assert (row.risk_label, row.risk_reasons) == words


def line(rule: str, value: float, severity: str, comparison: str = ">") -> ChartThreshold:
    return ChartThreshold(rule_id=rule, title=rule, metric="systolic_bp", comparison=comparison,
                          value=value, clear_value=None, severity=severity, dangerous=False,
                          device_kinds=[], version="default", source="")  # fmt: skip


def test_threshold_lines_at_one_value_are_drawn_once_in_the_worse_colour() -> None:
    chart = Chart(
        patient_id="p1", chart="blood_pressure", since=NOW - timedelta(days=7), until=NOW,
        bucket_s=606, max_points=2000, storage_mode="plain", series=[],
        thresholds=[line("bp.crisis_suspected", 180, "high"), line("bp.crisis", 180, "critical")],
        targets=[ChartTarget(metric="systolic_bp", low=None, high=135, source="")],
    )  # fmt: skip
    for t, crisis, target in ((EN, "Hypertensive crisis", "Home target 135 systolic"),
                              (ZH, "高血压危象", "家庭血压目标 收缩压 135")):  # fmt: skip
        data = pv.chart_data(chart, t)
        assert data["thresholds"] == [{"value": 180, "severity": "critical", "text": "> 180"}]
        assert data["legend"][0]["label"] == crisis
        assert len(data["legend"]) == 2 and data["targets"][0]["label"] == target


def message(**over: Any) -> dict[str, Any]:
    return {"sent_at": None, "last_error": None, "failures": 0, **over}


@pytest.mark.parametrize(
    ("row", "state"),
    [
        (message(sent_at=NOW), "sent"),
        (message(last_error="no_bound_device", failures=2), "waiting_for_device"),
        (message(last_error="timeout", failures=1), "retrying"),
        (message(), "pending"),
    ],
)
def test_a_tier1_messages_delivery_state(row: dict[str, Any], state: str) -> None:
    assert delivery(row) == state
    assert EN(f"patient.delivery.{state}") and ZH(f"patient.delivery.{state}")


def test_message_rows_say_when_a_failed_message_is_retried() -> None:
    m = PatientMessage(
        id=uuid.uuid4(), alert_id=None, template="remeasure", lang="zh", body="请复测血压",
        created_at=NOW - timedelta(minutes=20), delivery="retrying", attempts=1, failures=1,
        sent_at=None, sent_to=None, last_error="timeout", next_attempt_at=NOW + timedelta(minutes=5),
    )  # fmt: skip
    (shown,) = pv.message_rows([m], EN, "UTC", NOW)
    assert (shown.template, shown.delivery_label, shown.detail) == (
        "Re-measure prompt", "Failed, will retry", "next try 2026-12-03 04:05 UTC")  # fmt: skip


def team() -> TeamView:
    shifts = [
        Shift(id=1, staff_id="n1", role="nurse", tz="Asia/Shanghai", weekdays=[0, 2],
              start_time=time(8), end_time=time(20)),
        Shift(id=2, staff_id="d1", role="doctor", tz="UTC", weekdays=[3],
              start_time=time(20), end_time=time(8)),
    ]  # fmt: skip
    cover = RosterOverride(id=5, staff_id="n2", role="nurse", starts_at=NOW,
                           ends_at=NOW + timedelta(hours=8), replaces="n1", reason="sick",
                           created_by="a1")  # fmt: skip
    roster = Roster(team_id="t1", at=NOW, shifts=shifts, overrides=[cover], backups={},
                    on_call=[OnCallTier(tier=2, role="nurse", primary=["n2"], backup=[]),
                             OnCallTier(tier=3, role="doctor", primary=[], backup=["d1"])])  # fmt: skip
    members = [Member("n1", "Li Na", "nurse"), Member("n2", "Zhao Min", "nurse"),
               Member("d1", "Wang Wei", "doctor")]  # fmt: skip
    return TeamView("t1", "Ward 1", "Asia/Shanghai", roster, members)


def test_the_roster_week_on_call_and_overrides() -> None:
    tv = team()
    names = {m.id: m.name for m in tv.members}
    days = rv.week(tv, names, EN, "Asia/Shanghai", NOW)
    assert [(d.label, d.date, d.today) for d in days][:4] == [
        ("Mon", "11-30", False), ("Tue", "12-01", False), ("Wed", "12-02", False),
        ("Thu", "12-03", True)]  # fmt: skip
    assert [s.hours for s in days[0].shifts] == ["08:00–20:00"]  # the viewer's own zone
    assert [s.hours for s in days[3].shifts] == ["20:00–08:00 (next day) (UTC)"]
    assert [(s.who, s.days) for s in rv.shifts(tv, names, ZH, "Asia/Shanghai")] == [
        ("Li Na", "周一, 周三"), ("Wang Wei", "周四")]  # fmt: skip
    on_call = rv.on_call(tv, names, EN)
    assert [(c.tier, c.primary, c.backup) for c in on_call] == [
        (2, "Zhao Min", ""), (3, "", "Wang Wei")]  # fmt: skip
    (o,) = rv.overrides(tv, names, EN, "Asia/Shanghai")
    assert (o.who, o.replaces, o.starts) == ("Zhao Min", "Li Na", "2026-12-03 12:00 CST")
