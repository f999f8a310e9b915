"""Routing through the three tiers (issue 12, DESIGN 5): the policy table and the escalation
machine's transitions for low glucose and SpO2, on explicit clinical scenarios."""

from __future__ import annotations

import pytest

from alerts._codec import from_json, to_json
from alerts.escalation import (
    MIN,
    DeadlinePassed,
    Escalation,
    Notify,
    Outcome,
    Policy,
    PromptPatient,
    Remeasured,
    Repeated,
    Route,
    Silence,
    Snoozed,
    Step,
    Tier,
    start,
    step,
)
from alerts.messages import Template, render
from alerts.routing import GLUCOSE_LOW, LEVEL1, ROUTES, Recent, route_for
from program.stopped import RULE_ID as STOPPED_MEASURING
from stream.detections import Severity
from stream.rules import DEFAULT_RULES

T0 = 1_000_000.0
POLICY = Policy()
NURSE, BOTH = (Notify(Tier.NURSE),), (Notify(Tier.DOCTOR), Notify(Tier.NURSE))
SEVERITY = {r.id: (r.severity, r.dangerous) for r in DEFAULT_RULES.thresholds}
SEVERITY.update({r.id: (r.severity, r.dangerous) for r in DEFAULT_RULES.forecasts})
SEVERITY.update({r.id: (r.severity, r.dangerous) for r in DEFAULT_RULES.desaturations})


def opened(rule_id: str, earlier: int = 0, silence: Silence | None = None) -> Step:
    severity, dangerous = SEVERITY[rule_id]
    return start(POLICY, severity, dangerous, T0, silence, route_for(rule_id), earlier)


def timeout(s: Escalation) -> Step:
    assert s.deadline is not None
    return step(s, DeadlinePassed(s.fence), s.deadline)


@pytest.mark.parametrize(
    ("rule_id", "tier", "effects", "deadline_s"),
    [
        # what the patient can act on goes to the patient first: check, treat, re-check
        ("glucose.predicted_low", Tier.PATIENT, (PromptPatient(GLUCOSE_LOW),), 30 * MIN),
        ("glucose.level1_low", Tier.PATIENT, (PromptPatient(GLUCOSE_LOW),), 30 * MIN),
        ("glucose.level1_low_meter", Tier.PATIENT, (PromptPatient(GLUCOSE_LOW),), 30 * MIN),
        # level 2 measured, or predicted within 20 minutes: a clinician at once
        ("glucose.urgent_low_soon", Tier.NURSE, NURSE, 60 * MIN),
        ("glucose.level2_low", Tier.DOCTOR, BOTH, 15 * MIN),
        ("spo2.severe", Tier.NURSE, NURSE, 60 * MIN),
        ("spo2.desaturation", Tier.NURSE, NURSE, 60 * MIN),
    ],
)
def test_each_rule_enters_at_its_tier(
    rule_id: str, tier: Tier, effects: tuple[object, ...], deadline_s: float
) -> None:
    first = opened(rule_id)
    assert (first.state.tier, first.effects, first.deadline) == (tier, effects, T0 + deadline_s)


def test_the_table_covers_known_rules_and_cites_a_source_for_each() -> None:
    known = {*SEVERITY, *(r.id for r in DEFAULT_RULES.anomalies), STOPPED_MEASURING}
    for rule_id, route in ROUTES.items():
        assert rule_id in known, rule_id
        assert len(route.source) > 20, rule_id
    assert set(LEVEL1) <= known


@pytest.mark.parametrize("resumes", [True, False])
def test_stopped_measuring_reminds_the_patient_then_pages_the_nurse_15_minutes_later(
    resumes: bool,
) -> None:
    route = route_for(STOPPED_MEASURING)
    first = start(POLICY, Severity.MODERATE, False, T0, None, route, 0)
    assert (first.state.tier, first.deadline) == (Tier.PATIENT, T0 + 15 * MIN)
    again = step(first.state, Repeated(dangerous=False), T0 + MIN)  # the scheduler's next tick
    assert (again.state.tier, again.effects) == (Tier.PATIENT, ())
    if resumes:  # readings again: the scheduler's CLEARED (alerts.lifecycle.cleared)
        back = step(again.state, Remeasured(in_range=True), T0 + 5 * MIN)
        assert back.state.outcome is Outcome.AUTO_RESOLVED and back.effects == ()
    else:
        assert (timeout(again.state).state.tier, timeout(again.state).effects) == (
            Tier.NURSE, NURSE)  # fmt: skip


@pytest.mark.parametrize("rule_id", ["glucose.predicted_low", "glucose.level1_low"])
def test_a_patient_who_confirms_recovery_in_time_disturbs_no_one(rule_id: str) -> None:
    first = opened(rule_id)
    later = step(first.state, Repeated(dangerous=False), T0 + 5 * MIN)  # still low: no page
    assert later.effects == () and later.state.tier is Tier.PATIENT
    assert not later.state.confirms_on_repeat  # a repeat reading is not a failed re-check
    back = step(later.state, Remeasured(in_range=True), T0 + 20 * MIN)  # >= 70, not falling
    assert back.state.outcome is Outcome.AUTO_RESOLVED and back.effects == ()
    # the tier-1 timer armed at the opening, firing after the recovery, pages nobody
    assert step(back.state, DeadlinePassed(first.state.fence), T0 + 31 * MIN).effects == ()


@pytest.mark.parametrize(
    "outcome",
    ["no answer", "re-check still low"],
)
def test_no_recovery_in_time_pages_the_nurse(outcome: str) -> None:
    first = opened("glucose.level1_low")
    if outcome == "no answer":
        nxt = timeout(first.state)
        assert nxt.state.deadline == first.state.deadline + 60 * MIN  # the nurse's ack clock
    else:
        nxt = step(first.state, Remeasured(in_range=False), T0 + 16 * MIN)
    assert (nxt.state.tier, nxt.effects) == (Tier.NURSE, NURSE)


@pytest.mark.parametrize(
    ("rule_id", "earlier", "tier"),
    [
        ("glucose.level1_low", 0, Tier.PATIENT),  # the first level-1 episode of the day
        ("glucose.level1_low", 1, Tier.NURSE),  # the second within 24 h: lows recur
        ("glucose.predicted_low", 1, Tier.PATIENT),  # a prediction is not a recurrence
        ("glucose.level1_low_meter", 3, Tier.NURSE),
        ("glucose.high", 5, Tier.PATIENT),  # no route: its severity decides, recurrence or not
    ],
)
def test_recurrent_lows_go_to_the_nurse(rule_id: str, earlier: int, tier: Tier) -> None:
    severity, dangerous = SEVERITY[rule_id]
    first = start(POLICY, severity, dangerous, T0, None, route_for(rule_id), earlier)
    assert first.state.tier is tier


def test_recurrence_counts_only_level1_episodes() -> None:
    recent = Recent({"glucose.predicted_low": 4, "glucose.level1_low": 1, "bp.crisis": 2})
    assert recent.episodes(route_for("glucose.level1_low")) == 1
    assert recent.episodes(route_for("glucose.level1_low_meter")) == 1
    assert recent.episodes(None) == 0


def test_a_dangerous_value_reaches_a_clinician_whatever_the_route() -> None:
    patient_first = route_for("glucose.level1_low")
    first = start(POLICY, Severity.HIGH, True, T0, Silence(T0 + 3600, "travel"), patient_first)
    assert (first.state.tier, first.effects) == (Tier.NURSE, NURSE)
    assert first.state.snoozed is None  # a silence never hides it
    # a dangerous repeat of an alert only the patient has: a clinician now, and no snooze
    tier1 = opened("glucose.predicted_low").state
    urgent = step(tier1, Repeated(dangerous=True), T0 + 5 * MIN)
    assert (urgent.state.tier, urgent.effects) == (Tier.NURSE, NURSE)
    assert step(urgent.state, Snoozed(T0 + HOUR_S, "busy", "n1"), T0 + 6 * MIN).state == (
        urgent.state
    )


HOUR_S = 60 * MIN


@pytest.mark.parametrize("rule_id", ["glucose.level2_low", "spo2.severe"])
def test_a_sustained_dangerous_value_cannot_be_snoozed_or_silenced(rule_id: str) -> None:
    first = opened(rule_id, silence=Silence(T0 + HOUR_S, "holiday"))
    assert first.state.tier >= Tier.NURSE and first.effects
    refused = step(first.state, Snoozed(T0 + HOUR_S, "later", "n1"), T0 + MIN)
    assert refused.state == first.state


def test_the_end_of_a_snooze_prompts_the_patient_again_with_the_same_message() -> None:
    first = opened("glucose.predicted_low")
    snoozed = step(first.state, Snoozed(T0 + 2 * HOUR_S, "at the gym", "p1"), T0 + MIN)
    back = timeout(snoozed.state)
    assert back.effects == (PromptPatient(GLUCOSE_LOW),)
    assert back.state.deadline == T0 + 2 * HOUR_S + 30 * MIN


def test_a_route_is_stored_with_the_state_and_old_states_read_as_before() -> None:
    state = opened("glucose.level1_low").state
    assert from_json(to_json(state)) == state
    old = {k: v for k, v in to_json(state).items()
           if k not in ("prompt", "remeasure_s", "repeat_confirms")}  # fmt: skip
    legacy = from_json(old)
    assert (legacy.prompt, legacy.remeasure_s, legacy.repeat_confirms) == ("remeasure", None, True)


def test_routes_are_validated() -> None:
    with pytest.raises(ValueError, match="re-measure"):
        Route(Tier.PATIENT, "x", remeasure_s=0.0)
    assert not Route(Tier.PATIENT, "x").recurs(5)  # no recurrence rule
    assert Route(Tier.PATIENT, "x", recur_n=2).recurs(1)


@pytest.mark.parametrize(
    ("lang", "must_say"),
    [
        ("en", ("Check it now", "15 g of fast-acting carbohydrate", "again in 15 minutes",
                "below 70 mg/dL", "emergency number")),
        ("zh", ("15 克", "15 分钟后再测", "70 mg/dL", "急救电话")),
    ],
)  # fmt: skip
def test_the_low_glucose_message_says_check_treat_recheck(
    lang: str, must_say: tuple[str, ...]
) -> None:
    text = render(Template.GLUCOSE_LOW, lang, metric="glucose", value=68.0, unit="mg/dL",
                  glucose_unit="mg/dL")  # fmt: skip
    assert "68 mg/dL" in text
    for phrase in must_say:
        assert phrase in text, phrase
