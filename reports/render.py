"""The patient summary as HTML (Jinja2, reports/templates) and as PDF from the same HTML
(WeasyPrint: A4, printable). Charts are drawn by reports.charts; every label comes from the
report's catalogs (reports.i18n), alert titles from the caller's `rule_title` (the API passes
its own catalog's, so an alert reads the same as in the workspace).

WeasyPrint needs Pango, HarfBuzz and, for Chinese, a CJK font (Debian: libpango-1.0-0,
libpangoft2-1.0-0, libharfbuzz0b, libharfbuzz-subset0, fonts-noto-cjk), installed by
`infra/web_assets.sh reports`. matplotlib and WeasyPrint are imported when a report is drawn,
never at import time.

Must not: compute figures (reports.summary does), read the database or a clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import jinja2
import numpy as np

from reports import _format as fmt
from reports import charts
from reports._clock import DAY_S, local_seconds
from reports.agp import RANGES, SLOTS
from reports.i18n import LANG_TAGS, Catalog
from reports.summary import Summary
from reports.vitals import gains

RuleTitle = Callable[[str, str], str]


@cache
def environment() -> jinja2.Environment:
    """The templates' environment, built once on first use."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("reports", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(num=fmt.num, pct=fmt.pct, share=fmt.share, day=fmt.day)
    return env


def _day_x(t: np.ndarray, s: Summary) -> np.ndarray:
    return local_seconds(t, s.tz) / DAY_S


def _charts(s: Summary) -> dict[str, str]:
    out: dict[str, str] = {}
    d = s.data
    if s.agp is not None:
        out["agp"] = charts.agp_chart(s.agp.modal_day)
        out["daily"] = charts.daily_chart(s.agp.daily)
    if s.meter is not None:
        meter = ~d.glucose.cgm.astype(bool)
        clock = local_seconds(d.glucose.t[meter], s.tz) % DAY_S
        out["meter"] = charts.meter_chart(clock, d.glucose.mg_dl[meter],
                                          [x.start_h for x in SLOTS[1:]])  # fmt: skip
    if s.bp is not None:
        out["bp"] = charts.bp_chart(_day_x(d.bp.t, s), d.bp.systolic, d.bp.diastolic,
                                    s.first_day, s.last_day)  # fmt: skip
    if s.weight is not None:
        flagged = np.nan_to_num(gains(d.weight.t, d.weight.v), nan=-np.inf) >= s.weight.gain_kg
        out["weight"] = charts.weight_chart(_day_x(d.weight.t, s), d.weight.v, flagged,
                                            s.first_day, s.last_day)  # fmt: skip
    return out


RANGE_COLOURS = {"very_high": "#e67e22", "high": "#f5c26b", "in_range": "#3aa66a",
                 "low": "#e74c3c", "very_low": "#922b21"}  # fmt: skip
TIR_BAR_HEIGHT = 128.0


@dataclass(frozen=True, slots=True)
class BarPart:
    y: float
    height: float
    colour: str


def tir_bar(shares: dict[str, float]) -> list[BarPart]:
    """The stacked time-in-ranges bar (very high on top), drawn as inline SVG: no style
    attribute, which the workspace's Content-Security-Policy would refuse."""
    parts, y = [], 0.0
    for r in reversed(RANGES):
        height = shares[r.key] * TIR_BAR_HEIGHT
        parts.append(BarPart(y, height, RANGE_COLOURS[r.key]))
        y += height
    return parts


def context(s: Summary, lang: str, rule_title: RuleTitle | None = None,
            css_href: str | None = None) -> dict[str, Any]:  # fmt: skip
    t = Catalog(lang)
    tz = s.tz
    return {
        "s": s, "d": s.data, "t": t, "lang_tag": LANG_TAGS[lang], "ranges": RANGES,
        "when": lambda at: fmt.when(at, tz), "duration": lambda x: fmt.duration(x, t),
        "title": rule_title or (lambda _rule, stored: stored),
        "charts": _charts(s), "css_href": css_href,
        "tir_bar": tir_bar(s.agp.shares) if s.agp else [],
    }  # fmt: skip


def report_html(s: Summary, lang: str, rule_title: RuleTitle | None = None,
                css_href: str | None = None) -> str:  # fmt: skip
    """The report as one HTML page, charts inline as data URIs; its style sheet inline, or
    linked from `css_href` (a browser under a CSP refusing inline styles)."""
    page = environment().get_template("report.html")
    return page.render(context(s, lang, rule_title, css_href))


def stylesheet() -> str:
    """The report's style sheet (what `css_href` serves)."""
    return environment().get_template("report.css").render()


def report_pdf(html: str) -> bytes:
    """The PDF of `report_html`'s page (A4, the page's print styles)."""
    from weasyprint import HTML

    pdf: bytes = HTML(string=html).write_pdf()
    return pdf
