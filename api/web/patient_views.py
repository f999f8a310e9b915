"""What the patients list and the patient page show, from the workspace's data models: pure, so
the words and numbers are tested without a browser.

- `list_row`: a caseload row as the list shows it (latest vitals at clinical precision, blood
  pressure as "142/88 mmHg", the last reading in the viewer's zone, the worst open severity
  with its icon and word, never colour alone).
- `chart_data`: one chart's data for the page script (uPlot): each series' points with its
  label, unit and decimals and whether it is drawn as a trace or as points; the threshold lines
  with their translated titles; the target bands.
- `alert_rows`, `message_rows`: the alert history and the tier-1 messages, in words.

Must not: read a clock or the database (callers pass models and `now`), or draw (static/js).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from api.web import format as fmt
from api.web.i18n import Catalog
from api.web.views import SEVERITY_ICON
from api.workspace.models import (
    AlertHistoryRow,
    CaseloadRow,
    Chart,
    PatientMessage,
)

CHART_ORDER = ("blood_pressure", "glucose", "weight", "spo2", "heart_rate")
RANGES = ("24h", "7d", "30d", "90d")
SORTS = ("risk", "severity", "last_reading", "open_alerts", "name")
# the list's vital columns: (catalog key, metrics shown together)
VITALS = (
    ("metric.blood_pressure", ("systolic_bp", "diastolic_bp")),
    ("metric.glucose", ("glucose",)),
    ("metric.weight", ("weight",)),
    ("metric.spo2", ("spo2",)),
    ("metric.heart_rate", ("heart_rate",)),
)


@dataclass(frozen=True, slots=True)
class ListRow:
    id: str
    name: str
    team_id: str
    last_reading: str  # in the viewer's zone ("" when none)
    last_reading_age: str  # "3 h 05 min ago" ("" when none)
    vitals: list[str]  # one per VITALS column ("" when none)
    open_alerts: int
    severity: str | None
    severity_label: str
    severity_icon: str
    risk_tier: str | None
    risk_label: str  # the tier in words ("" before the care program has computed one)
    risk_reasons: list[str]  # the tags in words: why the patient is at that tier


def vital(row: CaseloadRow, metrics: tuple[str, ...]) -> str:
    """The latest value of one vital column; blood pressure as "sys/dia unit" ("–" for a part
    never measured), "" when nothing was."""
    found = [row.latest.get(m) for m in metrics]
    present = [v for v in found if v is not None]
    if not present:
        return ""
    if len(metrics) == 2:
        parts = "/".join("–" if v is None else f"{v.value:.0f}" for v in found)
        return f"{parts} {fmt.shown(metrics[0], present[0].unit).unit}"
    return fmt.value(metrics[0], present[0].unit, present[0].value)


def list_row(row: CaseloadRow, t: Catalog, tz: str, now: datetime) -> ListRow:
    sev = row.worst_open_severity
    last = row.last_reading_at
    age = t("patients.ago", span=fmt.duration((now - last).total_seconds())) if last else ""
    return ListRow(
        id=row.id, name=row.display_name, team_id=row.team_id,
        last_reading=fmt.when(last, tz), last_reading_age=age,
        vitals=[vital(row, metrics) for _, metrics in VITALS],
        open_alerts=row.open_alerts, severity=sev,
        severity_label=t(f"severity.{sev}") if sev else "",
        severity_icon=SEVERITY_ICON.get(sev or "", ""),
        risk_tier=row.risk_tier,
        risk_label=t(f"risk.tier.{row.risk_tier}") if row.risk_tier else "",
        risk_reasons=[t(f"risk.tag.{tag}") for tag in row.risk_tags],
    )  # fmt: skip


def _series(chart: Chart, t: Catalog) -> list[dict[str, Any]]:
    out = []
    for s in chart.series:
        how = fmt.shown(s.metric, s.unit)
        label = t(f"chart.series.{s.key}") if s.key in ("cgm", "meter") else t(f"metric.{s.metric}")
        out.append({"key": s.key, "label": label, "unit": how.unit, "decimals": how.decimals,
                    "points": s.key == "meter", "t": s.t, "v": s.v,
                    "downsampled": s.downsampled})  # fmt: skip
    return out


SEVERITY_ORDER = ("critical", "high", "moderate", "info")


def _drawn(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One line per value (two rules at one value are one line, in the worse severity's colour),
    marked on the canvas by the comparison and the value; the legend names the rules."""
    by_value: dict[float, dict[str, Any]] = {}
    for line in lines:
        seen = by_value.setdefault(line["value"], {**line, "marks": []})
        seen["marks"].append(line["mark"])
        if SEVERITY_ORDER.index(line["severity"]) < SEVERITY_ORDER.index(seen["severity"]):
            seen["severity"] = line["severity"]
    return [{"value": v["value"], "severity": v["severity"],
             "text": " ".join(dict.fromkeys(v["marks"]))} for v in by_value.values()]  # fmt: skip


def chart_data(chart: Chart, t: Catalog) -> dict[str, Any]:
    """One chart for static/js/patient.js (series, threshold lines, target bands) and for the
    page's legend (`legend`: each rule by its translated title, with the value)."""
    legend = [
        {"value": line.value, "mark": f"{line.comparison} {line.value:g}",
         "label": t.title(line.rule_id, line.title), "severity": line.severity,
         "overridden": line.version != "default"}
        for line in sorted(chart.thresholds, key=lambda line: (line.value, line.rule_id))
    ]  # fmt: skip
    targets = [{"low": g.low, "high": g.high, "label": t(f"chart.target.{g.metric}")}
               for g in chart.targets]  # fmt: skip
    return {"key": chart.chart, "title": t(f"chart.{chart.chart}"),
            "since": chart.since.timestamp(), "until": chart.until.timestamp(),
            "series": _series(chart, t), "thresholds": _drawn(legend), "legend": legend,
            "targets": targets}  # fmt: skip


@dataclass(frozen=True, slots=True)
class AlertLine:
    id: str
    opened: str
    title: str
    severity: str
    severity_label: str
    severity_icon: str
    worst: str
    status: str
    outcome: str
    resolved: str


def alert_rows(alerts: list[AlertHistoryRow], t: Catalog, tz: str, ptz: str) -> list[AlertLine]:
    return [_alert(a, t, tz, ptz) for a in alerts]


def _alert(a: AlertHistoryRow, t: Catalog, tz: str, ptz: str) -> AlertLine:
    return AlertLine(
        id=str(a.id), opened=fmt.when_both(a.opened_at, tz, ptz),
        title=t.title(a.rule_id, a.title), severity=a.severity,
        severity_label=t(f"severity.{a.severity}"),
        severity_icon=SEVERITY_ICON.get(a.severity, "●"),
        worst=fmt.value(a.metric, a.unit, a.worst_value), status=t(f"status.{a.status}"),
        outcome=t.get(f"outcome.{a.outcome}", a.outcome) if a.outcome else "",
        resolved=fmt.when(a.resolved_at, tz),
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class MessageLine:
    created: str
    template: str
    body: str
    delivery: str  # the state, for the row's class
    delivery_label: str
    detail: str  # when it was sent, or when it is retried


def message_rows(
    messages: list[PatientMessage], t: Catalog, tz: str, now: datetime
) -> list[MessageLine]:
    out = []
    for m in messages:
        if m.sent_at is not None:
            detail = fmt.when(m.sent_at, tz)
        elif m.next_attempt_at is not None and m.next_attempt_at > now:
            detail = t("patient.messages.retry_at", at=fmt.when(m.next_attempt_at, tz))
        else:
            detail = ""
        out.append(MessageLine(fmt.when(m.created_at, tz),
                               t.get(f"message.{m.template}", m.template), m.body, m.delivery,
                               t(f"patient.delivery.{m.delivery}"), detail))  # fmt: skip
    return out
