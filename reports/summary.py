"""The patient summary (issue 13, part 1): what a doctor reads in two minutes before a callback
or prints for a visit. Pure: the period's data in (`ReportData`, built by
reports.summary_queries), the figures out (`Summary`); reports.render draws them.

The figures live in `agp.py` (glucose), `bp.py` (ESH home BP) and `vitals.py` (weight with the
heart-failure rule, SpO2, heart rate); this module adds the care side: the alerts of the period
with tier, outcome and time to acknowledge (acknowledged_at − opened_at, the measurement time
of the reading that opened the alert), the tier-1 messages, the follow-up records and the
adherence of program/ (program.adherence: expected vs received per plan item over the last 7
and 30 days, and the CMS billing period's days with data).

Must not: read a clock or the database, or decide a clinical action.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np

from program.adherence import Billing, ItemAdherence
from reports import agp as glucose
from reports import bp as home
from reports import vitals
from reports._clock import DAY_S, local_day_and_clock
from reports.stats import Stats

PERIODS_DAYS = (14, 30, 90)
DEFAULT_CGM_INTERVAL_S = 300.0


@dataclass(frozen=True, slots=True)
class Patient:
    id: str
    display_name: str
    tz: str
    team_name: str
    doctor_name: str | None


@dataclass(frozen=True, slots=True)
class Series:
    """Times (epoch s, ascending) and values of one metric."""

    t: np.ndarray
    v: np.ndarray

    @staticmethod
    def empty() -> Series:
        return Series(np.zeros(0), np.zeros(0))


@dataclass(frozen=True, slots=True)
class BpSeries:
    t: np.ndarray
    systolic: np.ndarray
    diastolic: np.ndarray


@dataclass(frozen=True, slots=True)
class AlertRow:
    opened_at: datetime
    rule_id: str
    title: str
    severity: str
    tier: int
    status: str
    outcome: str | None
    acknowledged_at: datetime | None
    resolved_at: datetime | None

    @property
    def ack_s(self) -> float | None:
        if self.acknowledged_at is None:
            return None
        return max(0.0, (self.acknowledged_at - self.opened_at).total_seconds())


@dataclass(frozen=True, slots=True)
class MessageRow:
    created_at: datetime
    template: str
    body: str
    sent_at: datetime | None


@dataclass(frozen=True, slots=True)
class FollowUpRow:
    at: datetime
    contact_type: str
    outcome: str
    symptoms: str
    medication_changes: str
    advice_given: str
    note: str


@dataclass(frozen=True, slots=True)
class ReportData:
    patient: Patient
    days: int
    end: datetime  # the period is [end − days, end)
    glucose: glucose.Glucose
    cgm_interval_s: float
    bp: BpSeries
    weight: Series
    spo2: Series
    heart_rate: Series
    alerts: tuple[AlertRow, ...] = ()
    messages: tuple[MessageRow, ...] = ()
    follow_ups: tuple[FollowUpRow, ...] = ()
    adherence: tuple[ItemAdherence, ...] = ()
    billing: Billing | None = None

    def __post_init__(self) -> None:
        if self.days not in PERIODS_DAYS:
            raise ValueError(f"a report covers one of {PERIODS_DAYS} days, not {self.days}")


@dataclass(frozen=True, slots=True)
class TierResponse:
    tier: int
    alerts: int
    acknowledged: int
    median_ack_s: float | None
    max_ack_s: float | None


@dataclass(frozen=True, slots=True)
class Summary:
    data: ReportData
    first_day: int  # local day numbers of the period
    last_day: int
    days_with_data: int
    agp: glucose.Agp | None
    meter: glucose.Meter | None
    bp: home.HomeBp | None
    weight: vitals.Weight | None
    spo2: vitals.Spo2 | None
    heart_rate: Stats | None
    responses: tuple[TierResponse, ...]
    outcomes: dict[str, int] = field(default_factory=dict)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.data.patient.tz)


def tier_responses(alerts: tuple[AlertRow, ...]) -> tuple[TierResponse, ...]:
    out = []
    for tier in sorted({a.tier for a in alerts}):
        acks = np.array([a.ack_s for a in alerts if a.tier == tier and a.ack_s is not None])
        out.append(TierResponse(
            tier, sum(a.tier == tier for a in alerts), int(acks.size),
            float(np.median(acks)) if acks.size else None,
            float(acks.max()) if acks.size else None))  # fmt: skip
    return tuple(out)


def _days_with_data(d: ReportData, tz: ZoneInfo) -> int:
    times = [d.glucose.t, d.bp.t, d.weight.t, d.spo2.t, d.heart_rate.t]
    day, _ = local_day_and_clock(np.concatenate(times), tz)
    return int(np.unique(day).size)


def summarise(d: ReportData) -> Summary:
    tz = ZoneInfo(d.patient.tz)
    end_s = d.end.timestamp()
    first, _ = local_day_and_clock(np.array([end_s - d.days * DAY_S]), tz)
    last, _ = local_day_and_clock(np.array([end_s - 1.0]), tz)
    g = d.glucose
    cgm = g.cgm.astype(bool)
    return Summary(
        data=d,
        first_day=int(first[0]),
        last_day=int(last[0]),
        days_with_data=_days_with_data(d, tz),
        agp=glucose.agp(g.t[cgm], g.mg_dl[cgm], tz, d.days * DAY_S, d.cgm_interval_s, int(last[0])),
        meter=glucose.meter(g.t[~cgm], g.mg_dl[~cgm], g.fasting[~cgm].astype(bool), tz),
        bp=home.home_bp(d.bp.t, d.bp.systolic, d.bp.diastolic, tz),
        weight=vitals.weight(d.weight.t, d.weight.v, tz),
        spo2=vitals.spo2(d.spo2.v),
        heart_rate=vitals.heart_rate(d.heart_rate.v),
        responses=tier_responses(d.alerts),
        outcomes=dict(Counter(a.outcome for a in d.alerts if a.outcome)),
    )
