"""The stream operator: per-patient event-time processing of readings into detections. Pure.

One operator core serves both runners (embedded and Faust); it takes `now` as an argument and
does no I/O. Per reading, in this order:

1. Arrival. A duplicate (seq already seen on its stream) changes nothing. Rules that fire on a
   single dangerous value (IMMEDIATE) fire at once, in any order, late or not. A reading behind
   its stream's watermark is late: it feeds the order-insensitive baseline, is flagged for
   storage, and pages nobody (its immediate detections carry `late=True`).
2. Finalisation. When the stream's watermark passes a reading (the latest measurement time minus
   the allowed lateness, or after an idle flush), readings are taken in event-time order into the
   window and baseline, and the stateful rules run: persistence and hysteresis, confirmation,
   trends, CGM forecast, personal anomaly. Vitals also schedule a NEWS2 evaluation at their time,
   which waits until every vitals stream of the patient that is still behind (not caught up) has
   passed that time and, while any is behind, the patient's newest vital is more than the
   allowed lateness later (another device may still report). A caught-up stream (idle-flushed)
   holds nothing back: whatever it sends next is newer, or late.
3. Ticks (`tick`, driven by the runner's timer): streams quiet for `idle_flush_s` are flushed;
   (quiet in processing time: when the operator last saw a reading, so a worker catching up on a
   backlog does not flush streams whose next readings are still queued);
   crisis values whose re-measure did not come within its window fire as unconfirmable; devices
   silent beyond their limit raise a silence detection (cleared when data resumes).

Because finalisation is in event-time order and immediate rules depend on one reading only, any
arrival order within the allowed lateness yields the same detections, with the same ids.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from types import MappingProxyType

from ingest.bound import BoundMessage
from ingest.contract import METRICS
from stream import evaluate, news2
from stream.detections import Detail, Detection, Kind, Severity, Worse, detection_id
from stream.evaluate import Finding
from stream.overrides import OverrideIndex
from stream.rules import COMPARE, DEFAULT_RULES, RuleSet, ThresholdRule, Timing
from stream.state import PatientState, Reading, RuleState, StreamState, to_datetime
from stream.window import Baseline, RingWindow

WINDOW_CAPACITY = MappingProxyType({"glucose": 24, "heart_rate": 32, "spo2": 32, "weight": 16})


@dataclass(frozen=True, slots=True)
class OperatorConfig:
    allowed_lateness_s: float = 120.0
    idle_flush_s: float = 30.0
    # Duplicates still pending are found in the pending heap; this remembers the last finalised
    # seqs (a duplicate of an older reading is behind the watermark: late, and it changes nothing).
    dedupe_memory: int = 16
    window_capacity: dict[str, int] = field(default_factory=lambda: dict(WINDOW_CAPACITY))
    default_capacity: int = 32
    ewma_alpha: float = 0.3
    baseline_days: int = 28


@dataclass(slots=True)
class Outcome:
    detections: list[Detection] = field(default_factory=list)
    late: set[tuple[str, int, str]] = field(default_factory=set)  # (device, seq, metric)


class StreamOperator:
    def __init__(
        self,
        rules: RuleSet = DEFAULT_RULES,
        config: OperatorConfig | None = None,
        overrides: OverrideIndex | None = None,
    ) -> None:
        self.rules = rules
        self.config = config or OperatorConfig()
        self.overrides = overrides or OverrideIndex(rules)
        self._immediate = {
            m: tuple(r for r in rules.thresholds_for(m) if r.timing is Timing.IMMEDIATE)
            for m in METRICS
        }
        self._trends = {m: tuple(r for r in rules.trends if r.metric == m) for m in METRICS}
        self._anomalies = {m: tuple(r for r in rules.anomalies if r.metric == m) for m in METRICS}
        self._desaturations = {
            m: tuple(r for r in rules.desaturations if r.metric == m) for m in METRICS
        }
        self._confirmed = {r.id: r for r in rules.thresholds if r.timing is Timing.CONFIRMED}
        self._specs = _specs(rules)
        self._plans: dict[tuple[str, str], list[_Planned]] = {}
        self._news2_freshness = max((r.freshness_s for r in rules.news2), default=3600.0)

    # --- arrival ------------------------------------------------------------------------------

    def on_message(
        self, state: PatientState, bound: BoundMessage, out: Outcome, now: float
    ) -> None:
        """One message arriving at processing time `now` (epoch seconds)."""
        m = bound.message
        kind, cadence = bound.device_kind, bound.cadence_s
        t = m.measured_at.timestamp()
        touched = []
        for x in m.measurements:
            s = self._stream(state, m.device_id, x.metric, kind, cadence)
            if s.seen(m.seq):
                continue
            r = Reading(t, m.seq, x.value, now)
            if now > s.last_seen:
                s.last_seen = now
            late = t < s.wm
            if s.silent and not late:  # current data again (an old backlog alone does not count)
                self._resume(state, s, r, out)
            self._immediate_rules(state, s, r, late, out)
            if late:  # not remembered in `recent`: that must keep the latest finalised seqs
                s.baseline.add(t, x.value, daily=False)
                out.late.add((m.device_id, m.seq, x.metric))
            else:
                s.add_pending(r)
                touched.append(s)
        for s in touched:
            s.wm = max(s.wm, s.max_t - self.config.allowed_lateness_s)
            self._finalise(state, s, out)
        self._news2(state, out)

    def _stream(
        self, state: PatientState, device: str, metric: str, kind: str, cadence: float | None
    ) -> StreamState:
        s = state.streams.get((device, metric))
        if s is None:
            c = self.config
            capacity = c.window_capacity.get(metric, c.default_capacity)
            s = StreamState(
                device,
                metric,
                kind,
                cadence,
                RingWindow(capacity, c.ewma_alpha),
                Baseline(c.baseline_days),
                c.dedupe_memory,
            )
            state.streams[(device, metric)] = s
        return s

    def _immediate_rules(
        self, state: PatientState, s: StreamState, r: Reading, late: bool, out: Outcome
    ) -> None:
        for base in self._immediate[s.metric]:
            rule, version = self.overrides.rule_for(state.patient_id, base)
            if not rule.applies(s.metric, s.device_kind):
                continue
            if COMPARE[rule.comparison](r.value, rule.thresholds[rule.metrics.index(s.metric)]):
                out.detections.append(
                    self._detection(state, s, Finding(rule.id, Kind.FIRED, r), late, version)
                )

    # --- finalisation -------------------------------------------------------------------------

    def _finalise(self, state: PatientState, s: StreamState, out: Outcome) -> None:
        while (r := s.pop_final()) is not None:
            s.window.append(r.t, r.value)
            s.baseline.add(r.t, r.value)
            for finding, version in self._evaluate(state, s, r):
                out.detections.append(self._detection(state, s, finding, False, version))
            if s.metric in news2.BANDS:
                bisect.insort(state.news2_points, (r.t, s.metric, s.device_id, r.seq))

    def _evaluate(
        self, state: PatientState, s: StreamState, r: Reading
    ) -> list[tuple[Finding, str]]:
        found: list[tuple[Finding, str]] = []
        value, rules = r.value, s.rules
        for rule, limit, compare, version in self._thresholds(state.patient_id, s):
            if not compare(value, limit) and rule.id not in rules:
                continue  # in range, and nothing happened before: the common case costs nothing
            found.extend((f, version) for f in evaluate.threshold(rule, s, r))
        for trend in self._trends[s.metric]:
            found.extend((f, "default") for f in evaluate.trend(trend, s, r))
        if s.metric == "glucose":
            forecasts = [fc for fc in self.rules.forecasts if s.device_kind in fc.device_kinds]
            if forecasts:
                found.extend(
                    (f, "default")
                    for f in evaluate.glucose_forecast(forecasts, s, r, self.rules.glucose_filter)
                )
        for desat in self._desaturations[s.metric]:
            found.extend((f, "default") for f in evaluate.desaturation(desat, s, r))
        for anomaly in self._anomalies[s.metric]:
            found.extend((f, "default") for f in evaluate.anomaly(anomaly, s, r))
        return found

    def _thresholds(self, patient_id: str, s: StreamState) -> list[_Planned]:
        """The threshold rules of a stream, each with its limit and comparison resolved."""
        if patient_id in self.overrides.patients:  # few patients: resolved every time
            rules = self.rules.thresholds_for(s.metric)
            return _plan(
                s.metric, s.device_kind, (self.overrides.rule_for(patient_id, r) for r in rules)
            )
        key = (s.metric, s.device_kind)
        plan = self._plans.get(key)
        if plan is None:
            defaults = ((r, "default") for r in self.rules.thresholds_for(s.metric))
            plan = self._plans[key] = _plan(s.metric, s.device_kind, defaults)
        return plan

    # --- NEWS2 --------------------------------------------------------------------------------

    def _news2(self, state: PatientState, out: Outcome) -> None:
        points = state.news2_points
        if not points:
            return
        vitals = [s for s in state.streams.values() if s.metric in news2.BANDS]
        behind = [s.wm for s in vitals if s.wm < s.max_t]  # streams still waiting for readings
        if behind:
            # Wait for every stream that is not caught up, and for a vital that another device
            # (possibly a stream not seen yet) may still deliver up to the allowed lateness behind
            # the newest one. A caught-up stream (idle-flushed) holds nothing back: its next
            # reading is newer than all it has, or it is late.
            newest = max(s.max_t for s in vitals)
            horizon = min(min(behind), newest - self.config.allowed_lateness_s)
        else:
            horizon = math.inf
        split = bisect.bisect_right(points, (horizon, "\uffff"))  # kept sorted on insert
        if split == 0:
            return
        ready, state.news2_points = points[:split], points[split:]
        last_t = None
        for t, metric, device, seq in ready:
            if t == last_t:  # one evaluation per instant; the first anchor in sort order
                continue
            last_t = t
            score = news2.score(self._vitals_at(vitals, t))
            anchor = state.streams[(device, metric)]
            r = Reading(t, seq, float(score.aggregate), t)
            for finding in self._news2_findings(state, score, r):
                out.detections.append(
                    self._detection(state, anchor, finding, False, "default", news2_score=True)
                )

    def _vitals_at(self, vitals: list[StreamState], t: float) -> dict[str, float]:
        """The latest value of each vital at or before t, within the freshness window. Two
        devices measuring the same vital at the same instant: the value that scores worse
        counts (never the one that happened to arrive first)."""
        best: dict[str, tuple[tuple[float, int], float]] = {}  # metric -> ((time, points), value)
        for s in vitals:
            found = s.window.at_or_before(t)
            if found is None or found[0] < t - self._news2_freshness:
                continue
            rank = (found[0], news2.points(s.metric, found[1]))
            if s.metric not in best or rank > best[s.metric][0]:
                best[s.metric] = (rank, found[1])
        return {metric: value for metric, (_, value) in best.items()}

    def _news2_findings(
        self, state: PatientState, score: news2.News2Score, r: Reading
    ) -> Iterator[Finding]:
        details: tuple[Detail, ...] | None = None
        for rule in self.rules.news2:
            rs = state.news2_rules.get(rule.id)
            hit = score.aggregate >= rule.aggregate_at_least or (
                rule.single_parameter > 0 and score.max_single >= rule.single_parameter
            )
            clears = (
                rs is not None
                and rs.active
                and score.aggregate <= max(0, rule.aggregate_at_least - 3)
                and score.max_single < 3
            )
            if not hit and not clears:
                continue  # the common case: build nothing
            if rs is None:
                rs = state.news2_rules[rule.id] = RuleState()
            details = details or _news2_details(score)
            rs.active = hit
            yield Finding(rule.id, Kind.FIRED if hit else Kind.CLEARED, r, details)

    # --- ticks --------------------------------------------------------------------------------

    def tick(self, state: PatientState, now: float, out: Outcome) -> bool:
        """Idle flush, unconfirmable crisis values and silent devices, at processing time `now`.
        Returns whether the state changed (beyond the detections it adds to `out`)."""
        changed = False
        for s in state.streams.values():
            if s.max_t > s.wm and now - s.last_seen >= self.config.idle_flush_s:
                s.wm = s.max_t  # quiet long enough: the stream has caught up
                self._finalise(state, s, out)
                changed = True
            self._deadlines(state, s, now, out)
        self._silence(state, now, out)
        self._news2(state, out)
        return changed

    def _deadlines(self, state: PatientState, s: StreamState, now: float, out: Outcome) -> None:
        for rule_id, rs in s.rules.items():
            base = self._confirmed.get(rule_id)
            if base is None or rs.pending is None:
                continue
            rule, version = self.overrides.rule_for(state.patient_id, base)
            if now - rs.pending.arrived >= rule.within_s:
                for finding in evaluate.unconfirmable(rule, rs):
                    out.detections.append(self._detection(state, s, finding, False, version))

    def _silence(self, state: PatientState, now: float, out: Outcome) -> None:
        devices: dict[str, list[StreamState]] = {}
        for s in state.streams.values():
            devices.setdefault(s.device_id, []).append(s)
        for rule in self.rules.silence:
            for streams in devices.values():
                first = streams[0]
                limit = rule.limits_s.get(first.device_kind)
                if limit is None:
                    limit = rule.cadence_factor * first.cadence_s if first.cadence_s else math.inf
                last = max(streams, key=lambda s: s.last_seen)
                if not last.silent and now - last.last_seen > limit:
                    for s in streams:
                        s.silent = True
                    t = last.max_t if math.isfinite(last.max_t) else last.last_seen
                    anchor = Reading(t, last.last_seq(), limit, last.last_seen)
                    finding = Finding(rule.id, Kind.FIRED, anchor, (("limit_s", limit),))
                    out.detections.append(
                        self._detection(state, last, finding, False, "default", device_level=True)
                    )

    def _resume(self, state: PatientState, s: StreamState, r: Reading, out: Outcome) -> None:
        for other in state.streams.values():
            if other.device_id == s.device_id:
                other.silent = False
        for rule in self.rules.silence:
            finding = Finding(rule.id, Kind.CLEARED, r)
            out.detections.append(
                self._detection(state, s, finding, False, "default", device_level=True)
            )

    # --- detections ---------------------------------------------------------------------------

    def _detection(
        self,
        state: PatientState,
        s: StreamState,
        f: Finding,
        late: bool,
        version: str,
        *,
        news2_score: bool = False,
        device_level: bool = False,
    ) -> Detection:
        spec = self._specs[f.rule_id]
        metric = "news2" if news2_score else ("" if device_level else s.metric)
        unit = (
            "points" if news2_score else ("s" if device_level else METRICS[s.metric].canonical_unit)
        )
        return Detection(
            id=detection_id(f.rule_id, state.patient_id, s.device_id, f.anchor.seq, metric, f.kind),
            rule_id=f.rule_id,
            title=spec[0],
            severity=spec[1],
            worse=spec[2],
            patient_id=state.patient_id,
            device_id=s.device_id,
            seq=f.anchor.seq,
            metric=metric,
            value=f.anchor.value,
            unit=unit,
            measured_at=to_datetime(f.anchor.t),
            kind=f.kind,
            late=late,
            dangerous=spec[3],
            details=f.details,
            rule_version=version,
        )


_Planned = tuple[ThresholdRule, float, Callable[[float, float], bool], str]


def _plan(metric: str, kind: str, rules: Iterable[tuple[ThresholdRule, str]]) -> list[_Planned]:
    return [
        (rule, rule.thresholds[rule.metrics.index(metric)], COMPARE[rule.comparison], version)
        for rule, version in rules
        if rule.applies(metric, kind)
    ]


def _news2_details(score: news2.News2Score) -> tuple[Detail, ...]:
    points = tuple((f"points_{p}", float(v)) for p, v in sorted(score.points.items()))
    return (
        ("aggregate", float(score.aggregate)),
        ("partial", str(score.partial).lower()),
        ("missing", ",".join(score.missing)),
        *points,
    )


def _specs(rules: RuleSet) -> dict[str, tuple[str, Severity, Worse, bool]]:
    """Title, severity, worse direction and whether it fires on a value dangerous on its own,
    of every rule, by id."""
    specs: dict[str, tuple[str, Severity, Worse, bool]] = {}
    for r in rules.thresholds:
        specs[r.id] = (r.title, r.severity, r.worse, r.dangerous)
    for f in rules.forecasts:
        specs[f.id] = (f.title, f.severity, Worse.LOWER, f.dangerous)
    for d in rules.desaturations:
        specs[d.id] = (d.title, d.severity, Worse.LOWER, d.dangerous)
    for a in rules.anomalies:
        specs[a.id] = (a.title, a.severity, a.direction or Worse.HIGHER, a.dangerous)
    for trend in rules.trends:
        specs[trend.id] = (trend.title, trend.severity, Worse.HIGHER, trend.dangerous)
    for n in rules.news2:
        specs[n.id] = (n.title, n.severity, Worse.HIGHER, n.dangerous)
    for silent in rules.silence:
        specs[silent.id] = (silent.title, silent.severity, Worse.HIGHER, silent.dangerous)
    return specs
