"""Properties of the operator's event-time semantics, over generated multi-device streams:

- any arrival order within the allowed lateness gives exactly the detections of the in-order
  stream (same ids, same content);
- replaying any prefix, after or before the full stream, adds nothing.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.core import StreamCore
from tests.unit.scenarios import T0, At, operator, run

LATENESS_S = 120.0

# Values straddle the thresholds so that every rule family gets exercised.
GLUCOSE = st.sampled_from([48.0, 52.0, 60.0, 66.0, 69.0, 75.0, 90.0, 120.0, 180.0, 260.0])
SBP = st.sampled_from([95.0, 130.0, 150.0, 178.0, 182.0, 190.0, 205.0])
HR = st.sampled_from([38.0, 45.0, 72.0, 95.0, 128.0, 135.0])
SPO2 = st.sampled_from([90.0, 92.0, 94.0, 96.0, 98.0])


@st.composite
def streams(draw: st.DrawFn) -> list[At]:
    readings: list[At] = []
    t = 0.0
    for i in range(draw(st.integers(3, 25))):  # a CGM every ~5 minutes
        t += draw(st.floats(4.0, 6.0))
        readings.append(At("cgm", "cgm", i, t, (("glucose", draw(GLUCOSE)),)))
    t = draw(st.floats(0.0, 5.0))
    for i in range(draw(st.integers(2, 25))):  # a wearable every minute or so
        t += draw(st.floats(0.8, 1.5))
        readings.append(
            At("watch", "wearable", i, t, (("heart_rate", draw(HR)), ("spo2", draw(SPO2))))
        )
    t = 0.0
    for i in range(draw(st.integers(1, 6))):  # a cuff with re-measures minutes apart
        t += draw(st.floats(1.0, 20.0))
        sbp = draw(SBP)
        values = (("systolic_bp", sbp), ("diastolic_bp", sbp * 0.6), ("heart_rate", draw(HR)))
        readings.append(At("cuff", "bp_cuff", i, t, values))
    return readings


def in_order(readings: list[At]) -> list[At]:
    return sorted(readings, key=lambda r: (r.minutes, r.device))


def within_lateness(readings: list[At], seed: int) -> list[At]:
    """Arrival order: by measurement time plus a random delay below the allowed lateness."""
    rng = random.Random(seed)
    keyed = [(r.minutes * 60 + rng.uniform(0, LATENESS_S * 0.99), r) for r in readings]
    return [r for _, r in sorted(keyed, key=lambda k: k[0])]


@settings(max_examples=150, deadline=None)
@given(streams(), st.integers(0, 2**32))
def test_arrival_order_within_the_lateness_does_not_change_the_detections(
    readings: list[At], seed: int
) -> None:
    reference = run(in_order(readings))
    shuffled = run(within_lateness(readings, seed))
    assert sorted(reference, key=lambda d: str(d.id)) == sorted(shuffled, key=lambda d: str(d.id))


@settings(max_examples=100, deadline=None)
@given(streams(), st.data())
def test_replaying_any_prefix_adds_nothing(readings: list[At], data: st.DataObject) -> None:
    ordered = in_order(readings)
    k = data.draw(st.integers(0, len(ordered)))
    core = StreamCore(operator())
    first = run(ordered, core=core)
    replayed = run(ordered[:k], core=core)
    assert {d.id for d in replayed} <= {d.id for d in first}
    assert not [d for d in replayed if not d.late]  # nothing pages again

    fresh = StreamCore(operator())
    prefix_then_all = run(ordered[:k], core=fresh, final_tick=False) + run(ordered, core=fresh)
    assert {d.id for d in prefix_then_all} == {d.id for d in first}


@settings(max_examples=60, deadline=None)
@given(streams(), st.data())
def test_state_survives_serialisation_at_any_point(readings: list[At], data: st.DataObject) -> None:
    """What the Faust changelog stores is the whole truth: pack, unpack, carry on, same result."""
    from stream.state import PatientState

    ordered = in_order(readings)
    k = data.draw(st.integers(0, len(ordered)))
    reference = run(ordered)
    core = StreamCore(operator())
    found = run(ordered[:k], core=core, final_tick=False)
    restored = StreamCore(operator())
    for state in core.store.all():
        restored.store.put(PatientState.unpack(state.pack(), 0.3, 16))
    since = max((m.bound().message.received_at for m in ordered[:k]), default=T0)
    found += run(ordered[k:], core=restored, since=since)
    assert sorted(found, key=lambda d: str(d.id)) == sorted(reference, key=lambda d: str(d.id))


@pytest.mark.parametrize("cuff_first", [True, False], ids=["cuff-first", "watch-first"])
def test_two_devices_measuring_a_vital_at_once_score_the_worse_value(cuff_first: bool) -> None:
    """Found by the property above: a cuff (heart rate 45, 1 NEWS2 point) and a watch (38, 3
    points) at the same minute. Which arrived first must not decide the score."""
    cuff = At("cuff", "bp_cuff", 0, 1.0, (("systolic_bp", 95.0), ("diastolic_bp", 57.0),
                                          ("heart_rate", 45.0)))  # fmt: skip
    watch = At("watch", "wearable", 0, 1.0, (("heart_rate", 38.0), ("spo2", 90.0)))
    found = run([cuff, watch] if cuff_first else [watch, cuff])
    scores = {dict(d.details)["points_heart_rate"] for d in found if d.rule_id.startswith("news2")}
    assert scores == {3.0}
