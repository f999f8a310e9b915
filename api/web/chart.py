"""The alert page's chart, as data for the page script (uPlot): time in epoch seconds, values at
the metric's canonical unit, and the threshold lines of the rule table for that metric. Pure.

Must not: draw anything (static/js/alert.js does) or read the database.
"""

from __future__ import annotations

from typing import Any

from api.web.format import shown
from api.web.i18n import Catalog
from stream.rules import DEFAULT_RULES, RuleSet


def series(readings: list[dict[str, Any]]) -> list[list[float]]:
    """[[t...], [value...]] with distinct, increasing times (uPlot's shape)."""
    xs: list[float] = []
    ys: list[float] = []
    for r in readings:
        t = r["time"].timestamp()
        if xs and t <= xs[-1]:
            continue  # two devices at the same instant: keep the first
        xs.append(t)
        ys.append(float(r["value"]))
    return [xs, ys]


def thresholds(
    metric: str, t: Catalog, rule_id: str = "", rules: RuleSet = DEFAULT_RULES
) -> list[dict[str, Any]]:
    """Each threshold rule's line on `metric`: value, translated title, severity. Rules sharing a
    value are one line, labelled by the alert's own rule when it is one of them."""
    lines: dict[float, dict[str, Any]] = {}
    for rule in rules.thresholds_for(metric):
        value = rule.thresholds[rule.metrics.index(metric)]
        if value in lines and rule.id != rule_id:
            continue
        lines[value] = {"value": value, "label": t.title(rule.id, rule.title),
                        "severity": rule.severity.value}  # fmt: skip
    return [lines[v] for v in sorted(lines)]


def data(
    readings: list[dict[str, Any]], metric: str, alert: dict[str, Any], t: Catalog
) -> dict[str, Any]:
    return {
        "metric": t.get(f"metric.{metric}", metric),
        "unit": shown(metric, alert["unit"]).unit,
        "decimals": shown(metric, alert["unit"]).decimals,
        "series": series(readings),
        "thresholds": thresholds(metric, t, alert["rule_id"]),
        "opened": alert["opened_at"].timestamp(),
        "label": t("alert.chart"),
        "threshold_label": t("alert.chart.threshold"),
    }
