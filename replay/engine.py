"""A recorded dataset through the detectors and the escalation, in simulated time, no database.

`replay(readings, settings, devices)` drives the same pieces the runners drive: `StreamCore`
with the stream operator (`settings.operator()`, so a variant of the detectors can be measured),
the alert episodes (`alerts.episodes.open_or_update`: one open alert per patient and rule) and
the pure escalation machine through `alerts.lifecycle`, with the default policy and deadlines and
the routing table (`alerts.routing`: recurrences counted from the replay's own alerts).

Simulated time: each message is processed at its measurement time (no transport delay); every
`tick_s` (60 s) the operator ticks (idle flush, silences), then passed deadlines fire (so a
deadline fires up to a tick late), then the simulated staff act. After the last reading the
operator ticks 2 min more (to finalise what is pending; the end of the file is not a device
falling silent) and the escalation runs on for `tail_s`. Nobody else acts, except:

- the patient (`AnswerModel`): when a reading carries `true_value`, a share of patients (70 %)
  answer every tier-1 prompt about glucose with a meter re-check 5-15 min later, the others
  never answer. The re-check is the true value then (interpolated from the device's readings)
  plus meter error within ISO 15197:2013 (95 % within +-15 mg/dL below 100 mg/dL and +-15 %
  above: normal, SD = limit / 1.96). It goes through the operator as a glucometer's reading
  (device `<cgm>-meter`) and answers the prompting alert (`alerts.lifecycle.rechecked`).
  Without `true_value`, nobody answers. Draws are seeded by (seed, patient) for who answers and
  (seed, device, rule, prompt time) for each answer: stable for a fixed seed, and independent
  of what other alerts did;
- the staff (`StaffModel`): whoever is paged acknowledges 10 min later (within every
  acknowledgement deadline of the default policy) and resolves a clinician-held alert when its
  rule reports the condition cleared, or after an hour without a repeat.

An `Episode` is one alert from opening to resolution: the highest tier reached and when, the
first page of a clinician, and every tier-1 prompt. Must not: touch a database or a clock.
"""

from __future__ import annotations

import heapq
import json
import math
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from alerts import lifecycle
from alerts.episodes import Alert, open_or_update
from alerts.escalation import (
    RESOLUTION_S,
    Acknowledged,
    DeadlinePassed,
    Due,
    Escalation,
    Notify,
    Outcome,
    Policy,
    PromptPatient,
    Resolved,
    Step,
    Tier,
    step,
)
from alerts.routing import RECUR_WINDOW_S, SAME_EPISODE_S
from replay.records import Device, Reading, bound, messages
from stream.core import StreamCore
from stream.detections import Detection, Kind
from stream.operator import StreamOperator

METER_KIND = "glucometer"
FLUSH_S = 120.0  # the operator ticks this long after the last reading (idle flush: 30 s)


@dataclass(frozen=True, slots=True)
class AnswerModel:
    share: float = 0.7  # of patients who answer tier-1 prompts with a meter re-check
    delay_s: tuple[float, float] = (300.0, 900.0)
    iso_limit_mg_dl: float = 15.0  # below `iso_split_mg_dl`; above it, that share of the value
    iso_limit_share: float = 0.15
    iso_split_mg_dl: float = 100.0

    def meter(self, true_mg_dl: float, rng: np.random.Generator) -> float:
        limit = (
            self.iso_limit_mg_dl
            if true_mg_dl < self.iso_split_mg_dl
            else self.iso_limit_share * true_mg_dl
        )
        return float(round(max(20.0, true_mg_dl + rng.normal(0.0, limit / 1.96))))


@dataclass(frozen=True, slots=True)
class StaffModel:
    ack_after_s: float | None = 600.0  # None: nobody acknowledges (deadlines escalate)
    resolve_quiet_s: float = 3600.0


@dataclass(frozen=True, slots=True)
class ReplaySettings:
    seed: int = 0
    tick_s: float = 60.0
    tail_s: float = 2400.0  # ticking on after the last reading: past a tier-1 deadline (30 min)
    policy: Policy = field(default_factory=Policy)
    answers: AnswerModel = field(default_factory=AnswerModel)
    staff: StaffModel = field(default_factory=StaffModel)
    operator: Callable[[], StreamOperator] = StreamOperator  # the detectors, with their settings


@dataclass(frozen=True, slots=True)
class Episode:
    patient_id: str
    device_id: str
    rule_id: str
    severity: str
    metric: str
    worse: str  # which direction of the metric the rule is about (higher, lower)
    dangerous: bool
    opened_at: float  # epoch seconds (processing time)
    closed_at: float | None  # None: still open when the data ended
    tier: int  # highest reached
    tier_at: float
    paged_at: float | None  # first notification of a clinician
    prompts: tuple[float, ...]  # tier-1 messages to the patient
    closed_by: str  # auto_resolved, staff, open

    def as_json(self) -> dict[str, Any]:
        return {
            "device_id": self.device_id, "patient_id": self.patient_id, "rule_id": self.rule_id,
            "severity": self.severity, "opened_at": iso(self.opened_at),
            "closed_at": iso(self.closed_at), "tier": self.tier, "tier_at": iso(self.tier_at),
            "paged_at": iso(self.paged_at), "prompts": [iso(t) for t in self.prompts],
            "closed_by": self.closed_by,
        }  # fmt: skip


def iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, UTC).isoformat()


@dataclass(slots=True)
class _Open:
    alert: Alert
    device_id: str
    dangerous: bool
    opened_at: float
    state: Escalation | None = None
    tier: int = 0
    tier_at: float = 0.0
    paged_at: float | None = None
    prompts: list[float] = field(default_factory=list)
    ack_due: float | None = None
    cleared: bool = False
    last_fired: float = 0.0


@dataclass(order=True, frozen=True, slots=True)
class _Recheck:
    at: float
    order: int
    patient_id: str
    rule_id: str
    device_id: str
    value: float = field(compare=False)
    alert_id: object = field(compare=False, default=None)  # the prompting alert


class _Replay:
    def __init__(self, settings: ReplaySettings, devices: Mapping[str, Device]) -> None:
        self.s = settings
        self.devices = devices
        self.core = StreamCore(settings.operator())
        self.open: dict[tuple[str, str], _Open] = {}
        self.done: list[Episode] = []
        self.seen: set[object] = set()
        self.truth: dict[str, tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]] = {}
        self.rechecks: list[_Recheck] = []
        self.meter_seq: dict[str, int] = {}
        self.answered = 0
        self.responders: dict[str, bool] = {}
        self.history: dict[str, list[tuple[float, str]]] = {}  # patient -> (opened, rule)

    def run(self, readings: Sequence[Reading]) -> list[Episode]:
        self._truths(readings)
        arrivals = messages(readings, self.devices)
        if not arrivals:
            return []
        tick = self.s.tick_s
        t, end, i = math.floor(arrivals[0][0] / tick) * tick, arrivals[-1][0] + self.s.tail_s, 0
        flush_until = arrivals[-1][0] + FLUSH_S
        while t <= end:
            while True:
                next_a = arrivals[i][0] if i < len(arrivals) else math.inf
                next_r = self.rechecks[0].at if self.rechecks else math.inf
                if min(next_a, next_r) > t:
                    break
                if next_a <= next_r:
                    self._detections(self.core.process([arrivals[i][1]], next_a).detections, next_a)
                    i += 1
                else:
                    self._recheck(heapq.heappop(self.rechecks))
            if t <= flush_until:  # past it the file has ended: no device fell silent
                self._detections(self.core.tick(t).detections, t)
            self._deadlines(t)
            self._staff(t)
            t += tick
        for o in list(self.open.values()):
            self._close(o, None, "open")
        return sorted(self.done, key=lambda e: (e.opened_at, e.patient_id, e.rule_id))

    def _truths(self, readings: Sequence[Reading]) -> None:
        by_device: dict[str, list[tuple[float, float]]] = {}
        for r in readings:
            if r.true_value is not None:
                by_device.setdefault(r.device_id, []).append((r.at, r.true_value))
        for device, pairs in by_device.items():
            arr = np.array(pairs)
            self.truth[device] = (arr[:, 0], arr[:, 1])

    # --- detections into alerts ----------------------------------------------------------------

    def _detections(self, detections: Sequence[Detection], now: float) -> None:
        for d in sorted(detections, key=lambda d: (d.measured_at, d.device_id, d.seq)):
            if d.id in self.seen:
                continue
            self.seen.add(d.id)
            key, current = (d.patient_id, d.rule_id), self.open.get((d.patient_id, d.rule_id))
            if d.kind is Kind.CLEARED:
                if current is not None and current.state is not None:
                    current.cleared = True
                    self._apply(current, lifecycle.cleared(current.state, now), now)
            elif current is None or current.state is None:
                alert, _ = open_or_update(None, d)
                o = self.open[key] = _Open(alert, d.device_id, d.dangerous, now, last_fired=now)
                recent = self._recent(d.patient_id, now)
                past = self.history.setdefault(d.patient_id, [])
                past[:] = [(at, r) for at, r in past if at > now - lifecycle.RECENT_WINDOW_S]
                past.append((now, d.rule_id))
                self._apply(o, lifecycle.opened(self.s.policy, d, now, None, recent), now)
            else:
                current.alert, _ = open_or_update(current.alert, d)
                current.cleared, current.last_fired = False, now
                self._apply(current, lifecycle.repeated(current.state, d, now), now)

    def _recent(self, patient_id: str, now: float) -> dict[str, int]:
        """The patient's earlier alerts in the recurrence window, per rule, as the database
        adapter counts them (alerts._locked): opened in the day before `now`, and not within
        `SAME_EPISODE_S` of it (the same low seen again)."""
        counts: dict[str, int] = {}
        for at, rule_id in self.history.get(patient_id, ()):
            if now - RECUR_WINDOW_S < at <= now - SAME_EPISODE_S:
                counts[rule_id] = counts.get(rule_id, 0) + 1
        return counts

    def _apply(self, o: _Open, moved: Step, now: float) -> None:
        o.state = moved.state
        for effect in moved.effects:
            if isinstance(effect, PromptPatient):
                o.prompts.append(now)
                self._maybe_answer(o, now)
            elif isinstance(effect, Notify):
                o.paged_at = now if o.paged_at is None else o.paged_at
                if self.s.staff.ack_after_s is not None and o.ack_due is None:
                    o.ack_due = now + self.s.staff.ack_after_s
        if int(moved.state.tier) > o.tier:
            o.tier, o.tier_at = int(moved.state.tier), now
        if moved.state.outcome is not None:
            by = "auto_resolved" if moved.state.outcome is Outcome.AUTO_RESOLVED else "staff"
            self._close(o, now, by)

    def _close(self, o: _Open, at: float | None, by: str) -> None:
        self.open.pop((o.alert.patient_id, o.alert.rule_id), None)
        a = o.alert
        self.done.append(Episode(a.patient_id, o.device_id, a.rule_id, a.severity.value,
                                 a.metric, a.worse.value, o.dangerous, o.opened_at, at, o.tier,
                                 o.tier_at, o.paged_at, tuple(o.prompts), by))  # fmt: skip

    # --- time: deadlines and staff ---------------------------------------------------------------

    def _deadlines(self, now: float) -> None:
        for o in list(self.open.values()):
            s = o.state
            if s is not None and s.deadline is not None and s.deadline <= now + RESOLUTION_S:
                self._apply(o, step(s, DeadlinePassed(s.fence), now), now)

    def _staff(self, now: float) -> None:
        for o in list(self.open.values()):
            s = o.state
            if s is None or s.tier < Tier.NURSE:
                continue
            if o.ack_due is not None and now >= o.ack_due:
                o.ack_due = None
                if s.due is Due.ACK:
                    self._apply(o, step(s, Acknowledged("replay-staff"), now), now)
                    s = o.state
            if s is not None and (o.cleared or now - o.last_fired >= self.s.staff.resolve_quiet_s):
                self._apply(o, step(s, Resolved(Outcome.ADVICE_GIVEN, "replay-staff"), now), now)

    # --- the patient's answers -------------------------------------------------------------------

    def _maybe_answer(self, o: _Open, now: float) -> None:
        a = o.alert
        truth = self.truth.get(o.device_id)
        if truth is None or a.metric not in lifecycle.RECHECK_IN_RANGE_AT_LEAST:
            return
        if not self._answers(a.patient_id):
            return
        key = zlib.crc32(f"{o.device_id}|{a.rule_id}".encode())
        rng = np.random.default_rng([self.s.seed, key, int(now)])
        at = now + float(rng.uniform(*self.s.answers.delay_s))
        value = self.s.answers.meter(float(np.interp(at, *truth)), rng)
        self.answered += 1
        heapq.heappush(self.rechecks, _Recheck(at, self.answered, a.patient_id, a.rule_id,
                                               o.device_id, value, a.id))  # fmt: skip

    def _answers(self, patient_id: str) -> bool:
        found = self.responders.get(patient_id)
        if found is None:
            rng = np.random.default_rng([self.s.seed, zlib.crc32(patient_id.encode())])
            found = self.responders[patient_id] = bool(rng.random() < self.s.answers.share)
        return found

    def _recheck(self, r: _Recheck) -> None:
        meter = f"{r.device_id}-meter"
        seq = self.meter_seq[meter] = self.meter_seq.get(meter, -1) + 1
        reading = Reading(meter, r.at, "glucose", r.value)
        message = bound([reading], Device(r.patient_id, METER_KIND, None), seq)
        self._detections(self.core.process([message], r.at).detections, r.at)
        o = self.open.get((r.patient_id, r.rule_id))
        if o is not None and o.state is not None and o.alert.id == r.alert_id:
            self._apply(o, lifecycle.rechecked(o.state, "glucose", r.value, r.at), r.at)


def to_jsonl(episodes: Sequence[Episode]) -> str:
    """One JSON object per line, keys in a fixed order: stable for stable episodes."""
    return "".join(json.dumps(e.as_json()) + "\n" for e in episodes)


def replay(
    readings: Sequence[Reading],
    settings: ReplaySettings | None = None,
    devices: Mapping[str, Device] | None = None,
) -> list[Episode]:
    """Every alert episode the readings cause, in opening order (see the module docstring)."""
    return _Replay(settings or ReplaySettings(), devices or {}).run(readings)
