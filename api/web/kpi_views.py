"""The KPI page's words (pure): a team's figures (reports.kpis.Kpis.as_json) as labelled table
rows in the viewer's language, and the period the page's form asks for.

Must not: fetch data, compute a figure or read a clock (the page passes `today`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from api.web import format as fmt
from api.web.i18n import Catalog
from reports.kpis import DEFAULT_DAYS, Period

PRESETS = (7, 30, 90)  # the period chooser's "last N days"


@dataclass(frozen=True, slots=True)
class Row:
    label: str
    value: str
    note: str = ""


def share(t: Catalog, s: Mapping[str, Any]) -> str:
    if not s["of"]:
        return "—"
    return t("kpi.share", n=s["n"], of=s["of"], pct=s["pct"])


def seconds(value: float | None) -> str:
    return "—" if value is None else fmt.duration(value)


def number(value: float | None) -> str:
    return "—" if value is None else f"{value:g}"


def chosen_period(start: str, end: str, days: str, today: date) -> Period:
    """The form's period: from/to dates when both parse and make a period, else the last
    `days` (a preset) or 30 days ending today."""
    try:
        return Period(date.fromisoformat(start), date.fromisoformat(end))
    except ValueError:
        n = int(days) if days.isdigit() and 1 <= int(days) <= 400 else DEFAULT_DAYS
        return Period.last(today, n)


def patients(t: Catalog, f: Mapping[str, Any]) -> list[Row]:
    p = f["patients"]
    return [
        Row(t("kpi.enrolled"), str(p["enrolled"])),
        Row(t("kpi.active"), str(p["active"]), t("kpi.active.note")),
        Row(t("kpi.patient_days"), str(p["patient_days"])),
        Row(t("kpi.days_mean"), number(p["days_with_data_mean"])),
        Row(t("kpi.reaching", needed=p["days_needed"]), share(t, p["reaching_days_needed"]),
            t("kpi.reaching.note")),
        Row(t("kpi.bp_controlled"), share(t, p["bp_controlled"]), t("kpi.bp_controlled.note")),
        Row(t("kpi.glucose_controlled"), share(t, p["glucose_controlled"]),
            t("kpi.glucose_controlled.note")),
    ]  # fmt: skip


def alerts(t: Catalog, f: Mapping[str, Any]) -> dict[str, Any]:
    a = f["alerts"]
    return {
        "summary": [
            Row(t("kpi.alerts"), str(a["alerts"])),
            Row(t("kpi.per_patient_day"), number(a["per_patient_day"])),
            Row(t("kpi.false_alarm"), share(t, a["false_alarm"]), t("kpi.false_alarm.note")),
            Row(t("kpi.escalated_by_deadline"), str(a["escalated_by_deadline"])),
            Row(t("kpi.escalated_by_staff"), str(a["escalated_by_staff"])),
        ],
        "by_tier": [Row(t("kpi.tier", tier=k), str(v["n"]), number(v["per_patient_day"]))
                    for k, v in a["by_tier"].items()],
        "by_rule": [Row(t.title(k, k), str(v["n"]), number(v["per_patient_day"]))
                    for k, v in a["by_rule"].items()],
        "outcomes": [Row(t.get(f"outcome.{k}", t.get(f"status.{k}", k)), str(n))
                     for k, n in a["outcomes"].items()],
    }  # fmt: skip


def response(t: Catalog, f: Mapping[str, Any]) -> dict[str, Any]:
    r = f["response"]
    tiers = [
        {"tier": t("kpi.tier", tier=k), "acknowledged": str(v["acknowledged"]),
         "median": seconds(v["ack_median_s"]), "p90": seconds(v["ack_p90_s"]),
         "within": share(t, v["within_deadline"])}
        for k, v in r["by_tier"].items()
    ]  # fmt: skip
    return {"tiers": tiers, "callbacks": share(t, r["callbacks_within_deadline"]),
            "follow_up": share(t, f["follow_up_coverage"])}  # fmt: skip
