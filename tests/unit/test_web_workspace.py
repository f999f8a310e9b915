"""The workspace's pure parts: values at clinical precision, times in the viewer's and the
patient's zone, the worklist's order, the catalogs (every page string and every rule title in
both languages), and the security headers."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api.web import format as fmt
from api.web import views
from api.web.i18n import LOCALES, catalogs, locale_of
from api.web.security import HSTS, NO_STORE, extra_headers, policy
from program.stopped import RULE_ID as STOPPED_MEASURING
from stream.rules import DEFAULT_RULES
from tests.conftest import REPO

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("metric", "unit", "amount", "glucose_unit", "shown"),
    [
        ("glucose", "mg/dL", 46.8416, "mg/dL", "47 mg/dL"),
        ("glucose", "mg/dL", 46.8416, "mmol/L", "2.6 mmol/L"),
        ("glucose", "mg/dL", 180.0, "mmol/L", "10.0 mmol/L"),
        ("systolic_bp", "mm[Hg]", 181.6, "mg/dL", "182 mmHg"),
        ("diastolic_bp", "mm[Hg]", 99.4, "mg/dL", "99 mmHg"),
        ("spo2", "%", 91.5, "mg/dL", "92 %"),
        ("heart_rate", "/min", 131.2, "mg/dL", "131 /min"),
        ("weight", "kg", 82.35, "mg/dL", "82.3 kg"),
        ("body_temperature", "Cel", 38.26, "mg/dL", "38.3 °C"),
        ("news2", "points", 7.0, "mg/dL", "7"),
        ("unknown_metric", "x", 1.234, "mg/dL", "1.2 x"),
    ],
)
def test_values_show_at_clinical_precision(
    metric: str, unit: str, amount: float, glucose_unit: str, shown: str
) -> None:
    assert fmt.value(metric, unit, amount, glucose_unit) == shown


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 s"), (59, "59 s"), (60, "1 min"), (3599, "59 min"), (3600, "1 h 00 min"),
     (3 * 3600 + 5 * 60, "3 h 05 min"), (90000, "1 d 1 h"), (-125, "2 min")],
)  # fmt: skip
def test_durations(seconds: float, text: str) -> None:
    assert fmt.duration(seconds) == text


def test_times_in_the_viewers_zone_with_the_patients_where_it_differs() -> None:
    assert fmt.when(T0, "Asia/Shanghai") == "2026-03-01 20:00 CST"
    assert fmt.when_both(T0, "Europe/London", "Europe/London") == "2026-03-01 12:00 GMT"
    both = fmt.when_both(T0, "Europe/London", "America/New_York")
    assert both == "2026-03-01 12:00 GMT (2026-03-01 07:00 EST)"
    assert fmt.when(T0, "Not/AZone") == "2026-03-01 12:00 UTC"
    assert fmt.when(None, "UTC") == ""


def _alert(**kw: Any) -> dict[str, Any]:
    row = {"id": kw.pop("id"), "rule_id": "glucose.level2_low", "title": "stored title",
           "severity": "high", "status": "open", "tier": 2, "deadline": None,
           "metric": "glucose", "unit": "mg/dL", "last_value": 47.2, "opened_at": T0,
           "snoozed_until": None, "assigned_to": None, "assignee_name": None,
           "patient": {"display_name": "Ann Example", "tz": "Europe/London"}}  # fmt: skip
    return row | kw


def test_worklist_orders_by_severity_then_deadline_then_age() -> None:
    t = catalogs()["en"]
    soon, later = T0 + timedelta(minutes=5), T0 + timedelta(hours=1)
    raw = [
        _alert(id="moderate-soon", severity="moderate", deadline=soon),
        _alert(id="high-none", severity="high"),
        _alert(id="high-later", severity="high", deadline=later),
        _alert(id="critical-later", severity="critical", deadline=later),
        _alert(id="high-soon", severity="high", deadline=soon),
        _alert(id="high-none-older", severity="high", opened_at=T0 - timedelta(hours=1)),
    ]
    order = [r.alert_id for r in views.rows(raw, t, "UTC", "me", T0, role="nurse")]
    assert order == ["critical-later", "high-soon", "high-later", "high-none-older", "high-none",
                     "moderate-soon"]  # fmt: skip


@pytest.mark.parametrize(
    ("kw", "status", "overdue", "mine"),
    [
        ({}, "open", False, False),
        ({"deadline": T0 - timedelta(seconds=1)}, "open", True, False),
        (
            {"snoozed_until": T0 + timedelta(minutes=30), "status": "acknowledged"},
            "snoozed",
            False,
            False,
        ),
        (
            {"snoozed_until": T0 - timedelta(minutes=1), "status": "acknowledged"},
            "acknowledged",
            False,
            False,
        ),
        ({"assigned_to": "me"}, "open", False, True),
    ],
)
def test_row_status_deadline_and_mine(
    kw: dict[str, Any], status: str, overdue: bool, mine: bool
) -> None:
    r = views.row(_alert(id="a", **kw), catalogs()["zh"], "UTC", "me", T0, role="nurse")
    assert (r.status, r.overdue, r.mine) == (status, overdue, mine)
    assert r.title == "血糖低于 54 mg/dL（2 级低血糖）"
    assert r.value == "47 mg/dL"
    assert r.severity_label == "高" and r.severity_icon == "▲"


@pytest.mark.parametrize(
    ("metric", "loc", "shown"),
    [
        ("systolic_bp", "en", "SBP 207 mmHg"),
        ("diastolic_bp", "en", "DBP 123 mmHg"),
        ("diastolic_bp", "zh", "舒张压 123 mmHg"),
        ("glucose", "en", "47 mg/dL"),
    ],
)
def test_a_blood_pressure_row_says_which_pressure(metric: str, loc: str, shown: str) -> None:
    amount = {"systolic_bp": 207.0, "diastolic_bp": 123.0, "glucose": 46.84}[metric]
    unit = "mg/dL" if metric == "glucose" else "mm[Hg]"
    raw = _alert(id="a", metric=metric, unit=unit, last_value=amount)
    assert views.row(raw, catalogs()[loc], "UTC", "me", T0, role="nurse").value == shown


@pytest.mark.parametrize(
    ("tier", "status", "role", "ackable"),
    [
        (2, "open", "nurse", True),
        (3, "open", "nurse", False),  # a tier-3 alert is acknowledged by a doctor (the API says)
        (3, "open", "doctor", True),
        (3, "open", "admin", True),
        (2, "acknowledged", "nurse", False),
    ],
)
def test_the_acknowledge_button_is_offered_only_to_who_may_use_it(
    tier: int, status: str, role: str, ackable: bool
) -> None:
    raw = _alert(id="a", tier=tier, status=status)
    assert views.row(raw, catalogs()["en"], "UTC", "me", T0, role=role).ackable is ackable
    assert views.offered(raw, role).acknowledge is ackable


def test_every_rule_title_has_both_languages() -> None:
    rule_ids = {r.id for group in ("anomalies", "forecasts", "news2", "silence", "thresholds",
                                   "trends") for r in getattr(DEFAULT_RULES, group)}  # fmt: skip
    rule_ids.add(STOPPED_MEASURING)  # raised by the care program's scheduler, not the stream
    assert len(rule_ids) >= 20
    for loc, catalog in catalogs().items():
        missing = {rid for rid in rule_ids if f"rule.{rid}" not in catalog.messages}
        assert not missing, f"{loc} lacks titles of {sorted(missing)}"


def test_catalogs_have_the_same_keys_and_placeholders() -> None:
    cats = catalogs()
    english = cats["en"].messages
    for loc in LOCALES:
        messages = cats[loc].messages
        assert set(messages) == set(english), loc
        for key, text in messages.items():
            assert set(re.findall(r"\{(\w+)\}", text)) == set(
                re.findall(r"\{(\w+)\}", english[key])
            ), (loc, key)
        if loc != "en":
            same = [
                k for k in messages if messages[k] == english[k] and not k.startswith("js.conn")
            ]
            assert len(same) < 5, f"{loc}: untranslated {same}"


def test_every_literal_key_in_templates_and_scripts_is_in_the_catalog() -> None:
    english = catalogs()["en"].messages
    web = REPO / "api" / "web"
    used: set[str] = set()
    for path in [*(web / "templates").glob("*.html"), *(web / "static" / "js").glob("*.js")]:
        used |= set(re.findall(r"""\bt\(\s*["']([a-z0-9_.]*[a-z0-9_])["']""", path.read_text()))
    assert used, "no t('key') calls found"
    assert used <= set(english), sorted(used - set(english))


@pytest.mark.parametrize(
    ("tag", "locale"),
    [("zh-CN", "zh"), ("zh_Hans", "zh"), ("en-GB", "en"), ("fr", "en"), (None, "en")],
)
def test_locale_tags(tag: str | None, locale: str) -> None:
    assert locale_of(tag) == locale


def test_the_policy_allows_our_scripts_only_and_no_framing() -> None:
    csp = policy("127.0.0.1:8720")
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert "ws://127.0.0.1:8720" in csp
    assert "ws://" not in policy("evil' host") and "ws://" not in policy(None)


@pytest.mark.parametrize(
    ("path", "over_tls", "present", "added"),
    [
        ("/api/v1/patients", False, [], [NO_STORE]),  # PHI: never kept by a browser or proxy
        ("/patients/p1", True, [], [NO_STORE, HSTS]),  # over TLS (or api.tls_terminated)
        ("/signin", False, [(b"Cache-Control", b"no-store")], []),  # the route's own choice
        ("/static/js/common.js", False, [], []),  # our assets, no PHI: cacheable
        ("/static/css/app.css", True, [], [HSTS]),
    ],
)
def test_no_store_everywhere_but_static_assets_and_hsts_only_over_tls(
    path: str, over_tls: bool, present: list[tuple[bytes, bytes]], added: list[tuple[bytes, bytes]]
) -> None:
    assert extra_headers(path, over_tls, present) == added


def test_chart_threshold_lines_one_per_value_named_after_the_alerts_rule() -> None:
    from api.web.chart import series, thresholds

    t = catalogs()["en"]
    lines = thresholds("systolic_bp", t, "bp.crisis")
    assert [line["value"] for line in lines] == sorted({line["value"] for line in lines})
    assert {"value": 180.0, "label": "Hypertensive crisis", "severity": "critical"} in lines
    glucose = [line["value"] for line in thresholds("glucose", t)]
    assert 54.0 in glucose and 70.0 in glucose and 250.0 in glucose
    rows = [
        {"time": T0, "value": 1},
        {"time": T0, "value": 2},
        {"time": T0 + timedelta(seconds=5), "value": 3},
    ]
    assert series(rows) == [[T0.timestamp(), T0.timestamp() + 5], [1.0, 3.0]]


@pytest.mark.parametrize(
    ("fields", "parsed"),
    [
        (("", "", "", False), (None, None, None, False)),
        (("team-a", "2", "critical", True), ("team-a", 2, "critical", True)),
        (("", "4", "bad", False), (None, None, None, False)),
        (("", "x", "", False), (None, None, None, False)),
    ],
)
def test_worklist_filters_from_the_form(
    fields: tuple[str, str, str, bool], parsed: tuple[Any, ...]
) -> None:
    from api.web.worklist_source import Filters

    f = Filters.parse(*fields)
    assert (f.team, f.tier, f.severity, f.mine) == parsed
