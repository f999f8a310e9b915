"""The summary report's HTML in both languages (no PDF here: tests/integration/test_reports.py
renders and reads the PDF): every label in both catalogs, the figures in the page, the charts
drawn, and nothing the workspace's Content-Security-Policy would refuse when the style sheet is
linked."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from importlib import resources

import numpy as np
import pytest

from reports import _format as fmt
from reports import render
from reports.agp import Glucose
from reports.i18n import Catalog
from reports.summary import AlertRow, BpSeries, Patient, ReportData, Series, summarise

END = datetime(2026, 11, 30, 12, tzinfo=UTC)
TEMPLATE = resources.files("reports").joinpath("templates", "report.html").read_text("utf-8")


def _catalog(locale: str) -> dict[str, str]:
    text = resources.files("reports").joinpath("i18n", f"{locale}.json").read_text("utf-8")
    catalog: dict[str, str] = json.loads(text)
    return catalog


def test_both_catalogs_hold_the_same_keys_and_placeholders() -> None:
    en, zh = _catalog("en"), _catalog("zh")
    assert set(en) == set(zh)
    for key, text in en.items():
        assert set(re.findall(r"{(\w+)}", text)) == set(re.findall(r"{(\w+)}", zh[key])), key


def test_every_label_the_template_names_is_in_the_catalog() -> None:
    named = set(re.findall(r't\("([a-z0-9_.]+)"', TEMPLATE))
    prefixes = {k for k in named if k.endswith(".")}
    assert named - prefixes <= set(_catalog("en"))


def _data(days: int = 14) -> ReportData:
    e = END.timestamp()
    t = np.arange(e - days * 86_400, e, 300.0)
    g = np.tile([50.0, 60.0, 100.0, 200.0, 300.0], t.size // 5 + 1)[: t.size]
    bt = np.sort(
        np.concatenate([np.arange(e - days * 86_400, e, 86_400) + h * 3600 for h in (-5, 7)])
    )
    one = np.ones(t.size, dtype=bool)
    alert = AlertRow(END - timedelta(days=2), "weight.gain_3d", "Weight gain", "high", 2,
                     "resolved", "callback_done", END - timedelta(days=2, minutes=-12), END)  # fmt: skip
    return ReportData(
        Patient("p-1", "Test Patient", "UTC", "Team A", None), days, END,
        Glucose(t, g, one, ~one), 300.0, BpSeries(bt, np.full(bt.size, 140.0), np.full(bt.size, 90.0)),
        Series(bt[::2], np.linspace(80, 81, bt[::2].size)), Series(bt, np.full(bt.size, 96.0)),
        Series(bt, np.full(bt.size, 70.0)), alerts=(alert,),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("lang", "label"), [("en", "Time in ranges"), ("zh", "各血糖范围内时间占比")]
)
def test_the_page_holds_the_figures_in_either_language(lang: str, label: str) -> None:
    html = render.report_html(summarise(_data()), lang)
    assert label in html
    assert "20.0 %" in html  # each of the five ranges holds a fifth of the readings
    assert "6.7 %" in html  # GMI of mean 142 mg/dL: 3.31 + 0.02392 x 142 = 6.70
    assert "140/90 mmHg" in html
    assert html.count("data:image/png;base64,") == 4  # AGP, daily profiles, BP, weight
    assert Catalog(lang)("outcome.callback_done") in html
    assert Catalog(lang)("unit.minutes", n="12") in html


def test_the_period_counts_the_calendar_days_it_touches() -> None:
    s = summarise(_data())  # [11-16 12:00, 11-30 12:00) UTC: 15 local dates
    assert (fmt.day(s.first_day), fmt.day(s.last_day)) == ("2026-11-16", "2026-11-30")
    assert s.days_with_data == 15
    assert "15 of 15 calendar days" in render.report_html(s, "en")


def test_a_linked_style_sheet_leaves_no_inline_style() -> None:
    html = render.report_html(summarise(_data()), "en", css_href="/x/report.css")
    assert '<link rel="stylesheet" href="/x/report.css">' in html
    assert "<style" not in html
    assert " style=" not in html


def test_an_empty_period_says_so() -> None:
    e = np.zeros(0)
    no = np.zeros(0, dtype=bool)
    data = ReportData(Patient("p-2", "Nobody", "Asia/Shanghai", "Team A", None), 30, END,
                      Glucose(e, e, no, no), 300.0, BpSeries(e, e, e), Series.empty(),
                      Series.empty(), Series.empty())  # fmt: skip
    html = render.report_html(summarise(data), "zh")
    assert "本周期内无读数。" in html
    assert "data:image/png" not in html


def test_a_period_is_14_30_or_90_days() -> None:
    with pytest.raises(ValueError, match="14, 30, 90"):
        _data(days=7)
