"""Program KPIs of one care team over one period (issue 13, part 2): the figures a program
manager reads to know whether the program works. Pure: the adapter (reports.kpi_queries) brings
per-patient sums from the daily aggregate and the team's alert, ack-window and task rows; this
module classifies, counts and shapes them, and renders CSV.

Definitions (each a constant or a frozen spec below, so a deployment can see what it signs off):
- period: UTC dates `start`..`end`, both included; enrolled: an enrolment (patient_records
  enrolled_on, else the patient's creation date) overlapping the period, not discharged before
  it; active: enrolled with at least one reading in the period.
- days with data: UTC days with any reading; the share reaching 16 of 30 days (CMS 99454,
  program.adherence) is over enrolled patients, the 16 scaled to the period's length.
- BP control: home means < 135/85 (ESH 2021), both, over patients with >= 12 BP readings.
- glucose control: TIR (70-180 mg/dL inclusive) > 70 % and TBR (< 70) < 4 % (Battelino 2019)
  over patients with enough data: CGM wear >= 70 % of the device's expected readings, or else at
  least one meter reading per day of the period on average.
- alert burden: alerts opened in the period per enrolled patient-day, by the highest tier they
  reached and by rule; false-alarm share: resolved with outcome false_alarm among those resolved.
- response: per tier, each (alert, tier) ack window (the first ack deadline the alert got at
  that tier; it opened at the deadline minus the tier's ack clock): median and p90 time to
  acknowledge (linear percentiles) and the share acknowledged by the deadline, over windows
  acknowledged or whose deadline has passed.
- doctor callbacks (tier-3 tasks; due 48 h after the escalation, 1 h when critical, as the
  program trigger sets them): the share done by their due time among those due by now or done.
- follow-up coverage: patients with a follow-up call due in the period whose contact happened
  (a follow-up record in the period that reached the patient or booked a visit).

Must not: read a clock or the database, or decide anything clinical about one patient.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np

from program.adherence import BILLING_DAYS_NEEDED, BILLING_PERIOD_DAYS

DEFAULT_DAYS = 30
MAX_DAYS = 400
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2999, 12, 31)  # what a period may span
TIERS = (2, 3)  # the tiers people acknowledge at


@dataclass(frozen=True, slots=True)
class BpTarget:
    sbp_below_mmhg: float = 135.0
    dbp_below_mmhg: float = 85.0
    min_readings: int = 12  # systolic readings in the period


@dataclass(frozen=True, slots=True)
class GlucoseTarget:
    tir_above_pct: int = 70
    tbr_below_pct: int = 4
    min_cgm_wear_pct: int = 70
    min_meter_readings_per_day: int = 1
    cgm_cadence_s: int = 300  # when the device does not say


BP = BpTarget()
GLUCOSE = GlucoseTarget()


@dataclass(frozen=True, slots=True)
class Period:
    start: date
    end: date  # included

    def __post_init__(self) -> None:
        if self.end < self.start or self.days > MAX_DAYS:
            raise ValueError(f"a period runs forwards and lasts at most {MAX_DAYS} days")
        if self.start < FIRST_DAY or self.end > LAST_DAY:
            raise ValueError(f"a period lies between {FIRST_DAY} and {LAST_DAY}")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @classmethod
    def last(cls, today: date, days: int = DEFAULT_DAYS) -> Period:
        return cls(today - timedelta(days=days - 1), today)


@dataclass(frozen=True, slots=True)
class PatientSums:
    """One enrolled patient's sums over the period, from the daily aggregate."""

    patient_id: str
    enrolled_days: int
    days_with_data: int = 0
    n_sbp: int = 0
    sum_sbp: float = 0.0
    n_dbp: int = 0
    sum_dbp: float = 0.0
    n_glucose: int = 0
    n_tir: int = 0
    n_tbr: int = 0
    n_cgm: int = 0
    cgm_cadence_s: int | None = None


@dataclass(frozen=True, slots=True)
class AckWindow:
    tier: int
    opened_at: datetime
    deadline: datetime
    acked_at: datetime | None


@dataclass(frozen=True, slots=True)
class Callback:
    due_at: datetime
    completed_at: datetime | None
    done: bool


@dataclass(frozen=True, slots=True)
class AlertCounts:
    by_tier: Mapping[int, int] = field(default_factory=dict)
    by_rule: Mapping[str, int] = field(default_factory=dict)
    resolved: int = 0
    false_alarms: int = 0
    outcomes: Mapping[str, int] = field(default_factory=dict)  # resolved ones; "open" too
    escalated_by_deadline: int = 0
    escalated_by_staff: int = 0


@dataclass(frozen=True, slots=True)
class Share:
    n: int
    of: int

    @property
    def pct(self) -> float | None:
        return None if self.of == 0 else round(100.0 * self.n / self.of, 1)

    def as_json(self) -> dict[str, Any]:
        return {"n": self.n, "of": self.of, "pct": self.pct}


def bp_controlled(p: PatientSums, t: BpTarget = BP) -> bool | None:
    """None: too few readings to judge."""
    if p.n_sbp < t.min_readings or p.n_dbp == 0:
        return None
    return p.sum_sbp < t.sbp_below_mmhg * p.n_sbp and p.sum_dbp < t.dbp_below_mmhg * p.n_dbp


def glucose_controlled(p: PatientSums, days: int, t: GlucoseTarget = GLUCOSE) -> bool | None:
    """None: too little data. Integer comparisons, so 70 % and 4 % exactly are not met."""
    cadence = p.cgm_cadence_s or t.cgm_cadence_s
    worn = p.n_cgm * cadence * 100 >= t.min_cgm_wear_pct * days * 86_400
    metered = p.n_glucose - p.n_cgm >= t.min_meter_readings_per_day * days
    if p.n_glucose == 0 or not (worn or metered):
        return None
    in_range = 100 * p.n_tir > t.tir_above_pct * p.n_glucose
    low = 100 * p.n_tbr < t.tbr_below_pct * p.n_glucose
    return in_range and low


def days_needed(days: int) -> int:
    """16 of 30 days, scaled to the period (16 for 30 days)."""
    return math.ceil(BILLING_DAYS_NEEDED * days / BILLING_PERIOD_DAYS)


def percentile(values: Sequence[float], q: float) -> float | None:
    return None if not values else round(float(np.percentile(values, q)), 1)


def _control(flags: Sequence[bool | None]) -> Share:
    judged = [f for f in flags if f is not None]
    return Share(sum(judged), len(judged))


def population(patients: Sequence[PatientSums], period: Period) -> dict[str, Any]:
    needed = days_needed(period.days)
    days = [p.days_with_data for p in patients]
    return {
        "enrolled": len(patients),
        "active": sum(d > 0 for d in days),
        "patient_days": sum(p.enrolled_days for p in patients),
        "days_with_data_mean": round(sum(days) / len(days), 1) if days else None,
        "days_needed": needed,
        "reaching_days_needed": Share(sum(d >= needed for d in days), len(days)).as_json(),
        "bp_controlled": _control([bp_controlled(p) for p in patients]).as_json(),
        "glucose_controlled": _control(
            [glucose_controlled(p, period.days) for p in patients]
        ).as_json(),
    }


def burden(counts: AlertCounts, patient_days: int) -> dict[str, Any]:
    def rate(n: int) -> float | None:
        return None if patient_days == 0 else round(n / patient_days, 4)

    def table(counted: Mapping[Any, int]) -> dict[str, Any]:
        return {
            str(key): {"n": n, "per_patient_day": rate(n)} for key, n in sorted(counted.items())
        }

    return {
        "alerts": sum(counts.by_tier.values()),
        "per_patient_day": rate(sum(counts.by_tier.values())),
        "by_tier": table(counts.by_tier),
        "by_rule": table(counts.by_rule),
        "false_alarm": Share(counts.false_alarms, counts.resolved).as_json(),
        "outcomes": dict(sorted(counts.outcomes.items())),
        "escalated_by_deadline": counts.escalated_by_deadline,
        "escalated_by_staff": counts.escalated_by_staff,
    }


def response(
    windows: Sequence[AckWindow], callbacks: Sequence[Callback], now: datetime
) -> dict[str, Any]:
    tiers = {}
    for tier in TIERS:
        mine = [w for w in windows if w.tier == tier]
        acked = [(w.acked_at - w.opened_at).total_seconds() for w in mine if w.acked_at]
        judged = [w for w in mine if w.acked_at is not None or w.deadline <= now]
        on_time = sum(1 for w in judged if w.acked_at is not None and w.acked_at <= w.deadline)
        tiers[str(tier)] = {
            "acknowledged": len(acked),
            "ack_median_s": percentile(acked, 50),
            "ack_p90_s": percentile(acked, 90),
            "within_deadline": Share(on_time, len(judged)).as_json(),
        }
    due = [c for c in callbacks if c.done or c.due_at <= now]
    kept = sum(1 for c in due if c.done and c.completed_at and c.completed_at <= c.due_at)
    return {"by_tier": tiers, "callbacks_within_deadline": Share(kept, len(due)).as_json()}


@dataclass(frozen=True, slots=True)
class Kpis:
    team_id: str
    period: Period
    computed_at: datetime
    figures: Mapping[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {"team_id": self.team_id, "from": self.period.start.isoformat(),
                "to": self.period.end.isoformat(), "days": self.period.days,
                "computed_at": self.computed_at.isoformat(), **self.figures}  # fmt: skip


def compute(
    team_id: str,
    period: Period,
    now: datetime,
    patients: Sequence[PatientSums],
    counts: AlertCounts,
    windows: Sequence[AckWindow],
    callbacks: Sequence[Callback],
    follow_up: Share,
) -> Kpis:
    pop = population(patients, period)
    figures = {
        "patients": pop,
        "alerts": burden(counts, pop["patient_days"]),
        "response": response(windows, callbacks, now),
        "follow_up_coverage": follow_up.as_json(),
    }
    return Kpis(team_id, period, now, figures)


def rows(kpis: Kpis) -> list[tuple[str, str]]:
    """The figures flattened to (dotted name, value) pairs, in a stable order."""
    out: list[tuple[str, str]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        else:
            out.append((prefix, "" if value is None else str(value)))

    walk("", kpis.as_json())
    return out


def to_csv(kpis: Kpis) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(("figure", "value"))
    writer.writerows(rows(kpis))
    return buf.getvalue()
