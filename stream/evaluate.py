"""Rule evaluation at one finalised reading of one stream: pure functions, one per rule kind.

Each evaluator gets the rule, the stream (its window already holds the reading) and the reading,
and returns what it found as `Finding`s (rule, kind, details); the operator turns findings into
detections with ids and units. Rule state (active, hysteresis count, pending confirmation) lives
in `StreamState.rules` and is only changed here, in event-time order, so the outcome depends on
the set of readings, not on the order they arrived in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from stream import kalman
from stream.detections import Detail, Kind
from stream.kalman import FilterSettings
from stream.rules import (
    CLEARED,
    COMPARE,
    AnomalyRule,
    DesaturationRule,
    GlucoseForecastRule,
    ThresholdRule,
    Timing,
    TrendRule,
)
from stream.state import Reading, RuleState, StreamState
from stream.window import DAY_S, MAD_TO_SD


@dataclass(frozen=True, slots=True)
class Finding:
    rule_id: str
    kind: Kind
    anchor: Reading
    details: tuple[Detail, ...] = ()


def threshold(rule: ThresholdRule, s: StreamState, r: Reading) -> list[Finding]:
    found: list[Finding] = []
    i = rule.metrics.index(s.metric)
    limit = rule.thresholds[i]
    out = COMPARE[rule.comparison](r.value, limit)
    if rule.timing is Timing.IMMEDIATE:  # it fired on arrival; here only the episode state
        if out:
            s.rule(rule.id).active = True
    elif rule.timing is Timing.PERSISTENT:
        _persistent(rule, s, r, out, limit, found)
    elif out or rule.id in s.rules:
        _confirmed(rule, s, r, out, found)
    state = s.rules.get(rule.id)  # rule state exists only once something happened
    if not out and state is not None and state.active:
        _maybe_clear(rule, s, r, i, found)
    return found


def _persistent(
    rule: ThresholdRule, s: StreamState, r: Reading, out: bool, limit: float, found: list[Finding]
) -> None:
    if not out:
        return
    _, values = s.window.since(r.t - rule.within_s)
    compare = COMPARE[rule.comparison]
    count = sum(1 for v in values.tolist() if compare(v, limit))
    if count >= rule.persistence_n:
        s.rule(rule.id).active = True
        found.append(Finding(rule.id, Kind.FIRED, r, (("readings_out_of_range", float(count)),)))


def _confirmed(
    rule: ThresholdRule, s: StreamState, r: Reading, out: bool, found: list[Finding]
) -> None:
    state = s.rule(rule.id)
    pending = state.pending
    if pending is not None and r.t - pending.t > rule.within_s:
        found.extend(unconfirmable(rule, state))  # the re-measure window passed in event time
        pending = None
    if not out:
        state.pending = None  # an in-range re-measure refutes the suspicion
        return
    if pending is not None:
        state.pending, state.active = None, True
        details = (("confirmation", "confirmed"), ("first_value", pending.value))
        found.append(Finding(rule.id, Kind.FIRED, r, details))
    elif state.active:
        found.append(Finding(rule.id, Kind.FIRED, r, (("confirmation", "episode open"),)))
    else:
        state.pending = r


def unconfirmable(rule: ThresholdRule, state: RuleState) -> list[Finding]:
    """No re-measure came within the window: the crisis value stands on its own."""
    pending = state.pending
    if pending is None:
        return []
    state.pending, state.active = None, True
    return [Finding(rule.id, Kind.FIRED, pending, (("confirmation", "unconfirmable"),))]


def _maybe_clear(
    rule: ThresholdRule, s: StreamState, r: Reading, i: int, found: list[Finding]
) -> None:
    state = s.rule(rule.id)
    band = rule.clear_thresholds[i] if rule.clear_thresholds else rule.thresholds[i]
    if not CLEARED[rule.worse](r.value, band):
        state.clear_count = 0
        return
    state.clear_count += 1
    if state.clear_count >= rule.clear_n:
        state.active, state.clear_count = False, 0
        found.append(Finding(rule.id, Kind.CLEARED, r))


def trend(rule: TrendRule, s: StreamState, r: Reading) -> list[Finding]:
    change, details = (_gain if rule.mode == "gain" else _drift)(rule, s, r)
    if change is None:
        return []
    if change >= rule.delta:
        s.rule(rule.id).active = True
        return [Finding(rule.id, Kind.FIRED, r, (("change", round(change, 3)), *details))]
    if _active(s, rule.id) and change < rule.delta / 2:
        s.rule(rule.id).active = False
        return [Finding(rule.id, Kind.CLEARED, r, (("change", round(change, 3)),))]
    return []


def _active(s: StreamState, rule_id: str) -> bool:
    state = s.rules.get(rule_id)
    return state is not None and state.active


def _gain(rule: TrendRule, s: StreamState, r: Reading) -> tuple[float | None, tuple[Detail, ...]]:
    times, values = s.window.since(r.t - rule.span_s)
    earlier = values[times < r.t]
    if len(earlier) < rule.min_readings - 1:
        return None, ()
    low = float(earlier.min())
    return r.value - low, (("from_value", round(low, 3)),)


def _drift(rule: TrendRule, s: StreamState, r: Reading) -> tuple[float | None, tuple[Detail, ...]]:
    _, values = s.window.since(r.t - rule.span_s)
    if len(values) < rule.min_readings:
        return None, ()
    recent = float(values.astype(np.float64).mean())
    before = s.baseline.daily_means(
        rule.baseline_days, before_day=int((r.t - rule.span_s) // DAY_S)
    )
    if len(before) < 7 or recent < rule.floor:
        return None, ()
    base = float(np.median(before))
    return recent - base, (("recent_mean", round(recent, 1)), ("baseline_median", round(base, 1)))


def glucose_forecast(
    rules: Sequence[GlucoseForecastRule], s: StreamState, r: Reading, f: FilterSettings
) -> list[Finding]:
    """All forecast rules of a CGM stream at one reading, from its Kalman filter, which this
    reading updates first (readings come in event-time order)."""
    kf = s.kf = kalman.update(s.kf, r.t, r.value, f)
    found = []
    for rule in rules:
        if rule.mode == "predicted_low":
            firing, clear, details = _predicted_low(rule, s, kf, f)
        else:
            rate = kalman.rate(kf)
            firing = rate <= rule.rate_mg_dl_min
            clear = rate > rule.rate_mg_dl_min / 2
            details = (("rate_mg_dl_min", round(rate, 2)),)
        if firing:
            s.rule(rule.id).active = True
            found.append(Finding(rule.id, Kind.FIRED, r, details))
        elif clear and _active(s, rule.id):
            s.rule(rule.id).active = False
            found.append(Finding(rule.id, Kind.CLEARED, r, details))
    return found


def _predicted_low(
    rule: GlucoseForecastRule, s: StreamState, kf: list[float], f: FilterSettings
) -> tuple[bool, bool, tuple[Detail, ...]]:
    """(firing, clear, details). The prediction must hold at `persistence_n` readings in a row
    (counted in the rule's state). A level alert open on the stream already pages the low;
    while it is, a prediction adds nothing."""
    level, rate = kalman.level(kf), kalman.rate(kf)
    candidate = level >= rule.below_mg_dl and rate <= -rule.min_fall_mg_dl_min
    # The probability costs a dozen Gaussian tails: only when it can change anything (the hot
    # path: most readings are not falling, and no alert is open).
    needed = candidate or _active(s, rule.id)
    p = kalman.crossing_probability(kf, rule.below_mg_dl, rule.horizon_s, f) if needed else 0.0
    predicts = candidate and p >= rule.probability
    state = s.rule(rule.id) if predicts else s.rules.get(rule.id)
    if state is not None:
        state.streak = state.streak + 1 if predicts else 0
    firing = (
        state is not None
        and state.streak >= rule.persistence_n
        and not any(_active(s, other) for other in rule.quiet_while)
    )
    details: tuple[Detail, ...] = (
        ("probability", round(p, 3)),
        ("horizon_s", rule.horizon_s),
        ("level_mg_dl", round(level, 1)),
        ("rate_mg_dl_min", round(rate, 2)),
    )
    # Cleared: the low has become unlikely, or glucose is at or above the limit and not falling
    # (what resolves a tier-1 prompt: alerts.routing).
    recovered = level >= rule.below_mg_dl and rate >= 0.0
    return firing, p < rule.clear_probability or recovered, details


def desaturation(rule: DesaturationRule, s: StreamState, r: Reading) -> list[Finding]:
    """The desaturation area at one reading (see `DesaturationRule`)."""
    state = s.rules.get(rule.id)
    if r.value >= rule.reset_at:
        if state is None:
            return []  # the common case: in range, nothing before
        state.area, state.streak = 0.0, 0
        if state.active:
            state.clear_count += 1
            if state.clear_count >= rule.clear_n:
                state.active, state.clear_count = False, 0
                return [Finding(rule.id, Kind.CLEARED, r)]
        return []
    state = s.rule(rule.id)
    state.clear_count = 0
    times, values = s.window.last(2)
    before = float(values[0]) if len(times) == 2 else rule.reset_at
    if len(times) == 2 and r.t - times[0] > rule.max_gap_s:
        state.area, state.streak = 0.0, 0
    below = r.value < rule.limit
    state.streak = state.streak + 1 if below else 0
    if before < rule.limit and below and 0 < r.t - times[0] <= rule.max_gap_s:
        deficit = rule.limit - 0.5 * (before + r.value)
        state.area += deficit * (r.t - float(times[0]))
    if state.area >= rule.area and (state.active or state.streak >= rule.min_readings):
        state.active = True
        return [Finding(rule.id, Kind.FIRED, r, (("area_pct_s", round(state.area, 1)),))]
    return []


def anomaly(rule: AnomalyRule, s: StreamState, r: Reading) -> list[Finding]:
    if s.baseline.days_with_data() < rule.min_days:
        return []
    stats = s.baseline.median_mad()
    if stats is None:
        return []
    median, mad = stats
    deviation = r.value - median
    sd = MAD_TO_SD * mad
    z = math.inf if sd == 0 else deviation / sd
    higher = deviation > 0
    wrong_way = rule.direction is not None and higher != (rule.direction.value == "higher")
    if abs(z) >= rule.z and abs(deviation) >= rule.floor and not wrong_way:
        s.rule(rule.id).active = True
        z_detail = round(z, 2) if math.isfinite(z) else 99.0
        details = (("z", z_detail), ("baseline_median", round(median, 2)))
        return [Finding(rule.id, Kind.FIRED, r, details)]
    if _active(s, rule.id) and abs(deviation) < rule.floor / 2:
        s.rule(rule.id).active = False
        return [Finding(rule.id, Kind.CLEARED, r)]
    return []
