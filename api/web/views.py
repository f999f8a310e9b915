"""What a worklist row shows, from an alert row: pure, so the order and the words are tested
without a browser.

Order (most urgent first): severity (critical, high, moderate, info), then the deadline (the
soonest first; none last), then the oldest opened. The page scripts keep the same order for rows
that arrive live, from the `data-rank` and `data-deadline` attributes this module computes.

Must not: read a clock or the database (callers pass rows and `now`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from api.web import format as fmt
from api.web.i18n import Catalog

SEVERITY_RANK = {"critical": 0, "high": 1, "moderate": 2, "info": 3}
SEVERITY_ICON = {"critical": "◆", "high": "▲", "moderate": "●", "info": "○"}
NO_DEADLINE_MS = 2**53 - 1  # sorts after every real deadline (JavaScript's safe integer)


@dataclass(frozen=True, slots=True)
class Row:
    alert_id: str
    patient_name: str
    title: str
    value: str
    severity: str
    severity_label: str
    severity_icon: str
    rank: int
    tier: int
    status: str
    status_label: str
    snoozed: bool
    assignee: str
    opened_at: datetime
    opened_ms: int
    opened_text: str
    deadline: datetime | None
    deadline_text: str
    countdown: str  # "12 min", "Overdue by 3 min" (the page script keeps it running)
    age: str  # how long it has been open
    overdue: bool
    deadline_ms: int
    mine: bool
    ackable: bool  # the viewer may acknowledge it now (the worklist's button)


# metrics whose value alone does not say which one it is: "DBP 123 mmHg", not "123 mmHg"
NAMED = ("systolic_bp", "diastolic_bp")


def _value(r: dict[str, Any], t: Catalog) -> str:
    shown = fmt.value(r["metric"], r["unit"], r["last_value"])
    return f"{t('metric.short.' + r['metric'])} {shown}" if r["metric"] in NAMED else shown


def may_acknowledge(alert: dict[str, Any], role: str) -> bool:
    """An open alert, and at tier 3 only a doctor or admin (as alerts.response decides)."""
    return alert["status"] == "open" and (alert["tier"] < 3 or role in ("doctor", "admin"))


def row(r: dict[str, Any], t: Catalog, tz: str, me: str, now: datetime, *, role: str) -> Row:
    patient = r["patient"]
    deadline: datetime | None = r["deadline"]
    snoozed = r["snoozed_until"] is not None and r["snoozed_until"] > now
    status = "snoozed" if snoozed else r["status"]
    overdue = deadline is not None and deadline <= now
    return Row(
        alert_id=str(r["id"]),
        patient_name=patient["display_name"],
        title=t.title(r["rule_id"], r["title"]),
        value=_value(r, t),
        severity=r["severity"],
        severity_label=t(f"severity.{r['severity']}"),
        severity_icon=SEVERITY_ICON.get(r["severity"], "●"),
        rank=SEVERITY_RANK.get(r["severity"], len(SEVERITY_RANK)),
        tier=r["tier"],
        status=status,
        status_label=t(f"status.{status}"),
        snoozed=snoozed,
        assignee=r.get("assignee_name") or "",
        opened_at=r["opened_at"],
        opened_ms=int(r["opened_at"].timestamp() * 1000),
        opened_text=fmt.when_both(r["opened_at"], tz, patient.get("tz")),
        deadline=deadline,
        deadline_text=fmt.when(deadline, tz),
        countdown=_countdown(deadline, now, t),
        age=fmt.duration((now - r["opened_at"]).total_seconds()),
        overdue=overdue,
        deadline_ms=int(deadline.timestamp() * 1000) if deadline else NO_DEADLINE_MS,
        mine=r["assigned_to"] == me,
        ackable=may_acknowledge({**r, "status": status}, role),
    )


def _countdown(deadline: datetime | None, now: datetime, t: Catalog) -> str:
    if deadline is None:
        return ""
    left = (deadline - now).total_seconds()
    return fmt.duration(left) if left > 0 else t("worklist.overdue", span=fmt.duration(-left))


def urgency(r: Row) -> tuple[int, int, datetime]:
    return (r.rank, r.deadline_ms, r.opened_at)


def rows(
    raw: list[dict[str, Any]], t: Catalog, tz: str, me: str, now: datetime, *, role: str
) -> list[Row]:
    return sorted((row(r, t, tz, me, now, role=role) for r in raw), key=urgency)


# --- the alert page ---------------------------------------------------------------------------

OUTCOMES = ("advice_given", "medication_adjusted", "referred", "false_alarm")  # the nurse's too
CALLBACK_OUTCOMES = ("callback_done", "visit_booked")  # the doctor's tier-3 call-back
SNOOZE_MINUTES = (15, 30, 60, 120, 240)
_DETAIL_KEYS = ("note", "text", "reason")


@dataclass(frozen=True, slots=True)
class EventRow:
    at_text: str
    who: str
    what: str
    detail: str


def event_rows(
    events: list[dict[str, Any]], names: dict[str, str], t: Catalog, tz: str, patient_tz: str
) -> list[EventRow]:
    return [_event(e, names, t, tz, patient_tz) for e in events]


def _event(e: dict[str, Any], names: dict[str, str], t: Catalog, tz: str, ptz: str) -> EventRow:
    actor = e["actor"] or "system"
    who = t("alert.system") if actor == "system" else names.get(actor, actor)
    payload: dict[str, Any] = e["payload"] or {}
    parts = [str(payload[k]) for k in _DETAIL_KEYS if payload.get(k)]
    if payload.get("outcome"):
        parts.insert(0, t.get(f"outcome.{payload['outcome']}", str(payload["outcome"])))
    if payload.get("staff_id"):
        parts.append("→ " + names.get(payload["staff_id"], payload["staff_id"]))
    if payload.get("until"):
        parts.append("→ " + fmt.when(datetime.fromisoformat(payload["until"]), tz))
    if payload.get("visit_at"):
        visit = fmt.when_both(datetime.fromisoformat(payload["visit_at"]), tz, ptz)
        parts.append(f"{visit} · {payload.get('visit_place', '')}")
    return EventRow(fmt.when(e["at"], tz), who, t.get(f"event.{e['kind']}", e["kind"]),
                    " · ".join(parts))  # fmt: skip


@dataclass(frozen=True, slots=True)
class Offered:
    """Which action forms the alert page shows (the API still decides whether each is allowed)."""

    acknowledge: bool
    escalate: bool
    snooze: bool
    resolve: bool
    callback: bool  # a doctor (or admin) on a tier-3 alert: called back / visit booked

    @property
    def any(self) -> bool:
        return self.resolve


def offered(alert: dict[str, Any], role: str) -> Offered:
    live = alert["status"] != "resolved"
    return Offered(
        acknowledge=may_acknowledge(alert, role),
        escalate=live and alert["tier"] < 3,
        snooze=live,
        resolve=live,
        callback=live and alert["tier"] == 3 and role in ("doctor", "admin"),
    )
