"""`vigil bench quality`: how reliably and how early the detectors fire, against ground truth.

Each cohort of `simulators/cohorts.py` (CGM, BP, SpO2 patients with known episodes) goes through
the stream operator exactly as the embedded runner drives it (`StreamCore.process` per arriving
message at its arrival time, `tick` every minute), in simulated time and without the database,
which has no say in what is detected. Next to it, in the same run, a single-reading threshold
baseline sees the same readings: it alerts on a reading beyond the threshold and re-arms on the
next reading inside it.

Scoring per alert family (the rules whose alerts reach a clinician):

- sensitivity: share of true episodes with an alert from an hour before the episode began
  (true value crossing the threshold) to its end;
- lead time: episode start minus the first such alert (positive: before the crossing);
- false alerts: alerts with the patient's true value normal from 30 min before to 60 min after
  the alert, per patient-day.

An alert is counted as a nurse would meet it: a rule's repeated detections update one alert,
which is taken as closed when the rule reports its condition cleared (`openings`; in the feed
the alert stays open after that until a clinician resolves it, `alerts/episodes.py`, so a rule
that fires again before then updates it rather than paging anew: the count here is an upper
bound). Several rules of a family firing for one episode are several alerts. The baseline's
alert likewise lasts until a reading is back inside the threshold.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ingest.bound import BoundMessage
from simulators.cohorts import START, Case, Truth, cohort
from stream.core import StreamCore
from stream.detections import Kind
from stream.operator import StreamOperator

LEAD_WINDOW_S = 3600.0  # an alert this long before an episode counts for it
GRACE_S = 1800.0  # an alert this long after the true value recovered still counts as true
TICK_S = 60.0
QUIET_S = 3600.0
TAIL_S = 600.0  # ticking after the last arrival: well past the idle flush (30 s)


@dataclass(frozen=True, slots=True)
class Family:
    rules: frozenset[str]  # Vigil rules whose alerts count for the family
    beyond: Callable[[BoundMessage], bool]  # the single-reading baseline's test


def _value(b: BoundMessage, metric: str) -> float | None:
    return next((m.value for m in b.message.measurements if m.metric == metric), None)


def _below(metric: str, limit: float, inclusive: bool = False) -> Callable[[BoundMessage], bool]:
    def test(b: BoundMessage) -> bool:
        v = _value(b, metric)
        return v is not None and (v <= limit if inclusive else v < limit)

    return test


def _bp_crisis(b: BoundMessage) -> bool:
    sbp, dbp = _value(b, "systolic_bp"), _value(b, "diastolic_bp")
    return (sbp or 0.0) > 180.0 or (dbp or 0.0) > 120.0


FAMILIES = {
    "low_glucose": Family(
        frozenset(
            {
                "glucose.level2_low",
                "glucose.level1_low",
                "glucose.predicted_low",
                "glucose.urgent_low_soon",
            }
        ),
        _below("glucose", 70.0),
    ),
    "bp_crisis": Family(frozenset({"bp.crisis"}), _bp_crisis),
    "spo2_low": Family(
        frozenset({"spo2.severe", "spo2.desaturation"}), _below("spo2", 92.0, inclusive=True)
    ),
}


@dataclass(frozen=True, slots=True)
class Score:
    episodes: int
    detected: int
    leads_s: tuple[float, ...]
    alerts: int
    false_alerts: int
    patient_days: float

    def figures(self) -> dict[str, float | int | None]:
        return {
            "episodes": self.episodes,
            "sensitivity": round(self.detected / self.episodes, 3) if self.episodes else None,
            "median_lead_min": (
                round(statistics.median(self.leads_s) / 60.0, 1) if self.leads_s else None
            ),
            "alerts": self.alerts,
            "false_alerts_per_patient_day": round(self.false_alerts / self.patient_days, 3),
        }


def score(truths: Sequence[Truth], alerts: Sequence[Sequence[float]], days: float) -> Score:
    """Score alert times (seconds since START, one list per patient) against the truth."""
    episodes = detected = false = 0
    leads: list[float] = []
    for truth, times in zip(truths, alerts, strict=True):
        for start, end in truth.episodes:
            episodes += 1
            hits = [t for t in times if start - LEAD_WINDOW_S <= t <= end]
            if hits:
                detected += 1
                leads.append(start - min(hits))
        false += sum(not truth.abnormal_between(t - GRACE_S, t + LEAD_WINDOW_S) for t in times)
    n_alerts = sum(len(t) for t in alerts)
    return Score(episodes, detected, tuple(leads), n_alerts, false, len(truths) * days)


def _seconds(b: BoundMessage) -> float:
    return (b.message.received_at - START).total_seconds()


def vigil_alerts(cases: Sequence[Case], family: Family) -> list[list[float]]:
    """When the operator opened alerts of the family for each patient (processing time)."""
    core, epoch = StreamCore(StreamOperator()), START.timestamp()
    index = {c.patient_id: i for i, c in enumerate(cases)}
    events: list[list[tuple[str, Kind, float]]] = [[] for _ in cases]
    merged = sorted((b for c in cases for b in c.messages), key=_seconds)
    next_tick = 0.0

    def collect(detections: Sequence[Any], at_s: float) -> None:
        for d in detections:
            if d.rule_id in family.rules and not d.late:
                events[index[d.patient_id]].append((d.rule_id, d.kind, at_s))

    for b in merged:
        at = _seconds(b)
        while next_tick <= at:
            collect(core.tick(epoch + next_tick).detections, next_tick)
            next_tick += TICK_S
        collect(core.process([b], epoch + at).detections, at)
    end = next_tick + TAIL_S  # ticks go on after the last arrival, as a runner's timer does
    while next_tick <= end:
        collect(core.tick(epoch + next_tick).detections, next_tick)
        next_tick += TICK_S
    return [openings(e) for e in events]


def openings(events: Sequence[tuple[str, Kind, float]]) -> list[float]:
    """Times at which alerts open, as the alert feed shows them: one alert per rule, repeats
    update it until the rule reports its condition cleared, or until it has been quiet for
    `QUIET_S` (a nurse would have closed it by then)."""
    last_fired: dict[str, float] = {}
    opened = []
    for rule, kind, at in events:
        if kind is Kind.CLEARED:
            last_fired.pop(rule, None)
        elif kind is Kind.FIRED:
            previous = last_fired.get(rule)
            if previous is None or at - previous > QUIET_S:
                opened.append(at)
            last_fired[rule] = at
    return opened


def baseline_alerts(cases: Sequence[Case], family: Family) -> list[list[float]]:
    """Single-reading threshold: alert on a reading beyond it, re-arm on one inside it."""
    out = []
    for case in cases:
        armed, times = True, []
        for b in case.messages:
            if family.beyond(b):
                if armed:
                    times.append(_seconds(b))
                armed = False
            else:
                armed = True
        out.append(times)
    return out


def quality_figures(patients: int, days: float, seed: int) -> dict[str, Any]:
    figures: dict[str, Any] = {"patients_per_family": patients, "days": days, "seed": seed}
    for name, family in FAMILIES.items():
        t0 = time.perf_counter()
        cases = cohort(name, patients, days, seed)
        truths = [c.truth for c in cases]
        ours = score(truths, vigil_alerts(cases, family), days).figures()
        base = score(truths, baseline_alerts(cases, family), days).figures()
        readings = sum(len(c.messages) for c in cases)
        figures[name] = {"vigil": ours, "single_reading_baseline": base, "messages": readings,
                         "seconds": round(time.perf_counter() - t0, 1)}  # fmt: skip
        print(f"{name:12} vigil    {_line(ours)}")
        print(f"{'':12} baseline {_line(base)}   ({readings} messages)")
    return figures


def _line(f: dict[str, Any]) -> str:
    return (
        f"sensitivity {f['sensitivity']} of {f['episodes']} episodes | median lead "
        f"{f['median_lead_min']} min | {f['alerts']} alerts, "
        f"{f['false_alerts_per_patient_day']} false per patient-day"
    )
