"""The three-tier escalation machine: clinical scenarios on a fake clock, and a stateful
property test against a reference model."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from alerts.escalation import (
    HOUR,
    MIN,
    Acknowledged,
    DeadlinePassed,
    Due,
    EscalateRequested,
    Escalation,
    NobodyOnCall,
    Notify,
    Outcome,
    Policy,
    PromptPatient,
    Refused,
    Remeasured,
    Repeated,
    Resolved,
    Silence,
    Snoozed,
    Step,
    Tier,
    start,
    step,
)
from stream.detections import Severity

T0 = 1_000_000.0
POLICY = Policy()


def timeout(s: Escalation) -> Step:
    assert s.deadline is not None
    return step(s, DeadlinePassed(s.fence), s.deadline)


@pytest.mark.parametrize(
    ("severity", "dangerous", "tier", "effects", "deadline_s"),
    [
        (Severity.CRITICAL, True, Tier.DOCTOR, (Notify(Tier.DOCTOR), Notify(Tier.NURSE)), 15 * MIN),
        (Severity.HIGH, False, Tier.NURSE, (Notify(Tier.NURSE),), HOUR),
        (Severity.HIGH, True, Tier.NURSE, (Notify(Tier.NURSE),), HOUR),  # e.g. SpO2 <= 92 %
        (Severity.MODERATE, False, Tier.PATIENT, (PromptPatient("remeasure"),), 15 * MIN),
        (Severity.MODERATE, True, Tier.NURSE, (Notify(Tier.NURSE),), 4 * HOUR),
    ],
)
def test_severity_decides_the_entry_tier_and_a_dangerous_value_reaches_a_clinician(
    severity: Severity, dangerous: bool, tier: Tier, effects: tuple[object, ...], deadline_s: float
) -> None:
    first = start(POLICY, severity, dangerous, T0)
    assert (first.state.tier, first.effects, first.deadline) == (tier, effects, T0 + deadline_s)


def test_an_unacknowledged_nurse_alert_escalates_at_its_deadline_exactly_once() -> None:
    s = start(POLICY, Severity.HIGH, False, T0).state
    assert step(s, DeadlinePassed(s.fence), T0 + 59 * MIN) == Step(s)  # a timer firing early
    fired = timeout(s)
    assert fired.state.tier is Tier.DOCTOR and fired.effects == (Notify(Tier.DOCTOR),)
    again = step(fired.state, DeadlinePassed(s.fence), T0 + HOUR + 1)  # the same timer, twice
    assert again == Step(fired.state)


def test_the_doctor_has_48_hours_to_call_back_then_the_backup_is_paged() -> None:
    s = timeout(start(POLICY, Severity.HIGH, False, T0).state).state  # nurse missed it
    acked = step(s, Acknowledged("dr-a"), T0 + 2 * HOUR).state
    assert (acked.due, acked.deadline) == (Due.RESOLUTION, T0 + 2 * HOUR + 48 * HOUR)
    overdue = timeout(acked)
    assert overdue.effects == (Notify(Tier.DOCTOR, backup=True),)
    assert overdue.state.deadline is not None  # and paged again each period: never parked


def test_a_critical_callback_is_due_within_the_hour() -> None:
    s = start(POLICY, Severity.CRITICAL, True, T0).state
    acked = step(s, Acknowledged("dr-a"), T0 + 5 * MIN).state
    assert acked.deadline == T0 + 5 * MIN + HOUR


def test_nobody_on_call_pages_the_backup_then_escalates() -> None:
    s = start(POLICY, Severity.HIGH, False, T0).state
    backup = step(s, NobodyOnCall(Tier.NURSE), T0 + 1)
    assert backup.effects == (Notify(Tier.NURSE, backup=True),)
    unreachable = step(backup.state, NobodyOnCall(Tier.NURSE), T0 + 2)
    assert unreachable.state.tier is Tier.DOCTOR
    assert step(unreachable.state, NobodyOnCall(Tier.NURSE), T0 + 3) == Step(unreachable.state)


@pytest.mark.parametrize(
    ("in_range", "tier", "outcome"),
    [(True, Tier.PATIENT, Outcome.AUTO_RESOLVED), (False, Tier.NURSE, None)],
)
def test_the_patients_re_measure_resolves_or_escalates(
    in_range: bool, tier: Tier, outcome: Outcome | None
) -> None:
    s = start(POLICY, Severity.MODERATE, False, T0).state
    after = step(s, Remeasured(in_range), T0 + 5 * MIN).state
    assert (after.tier, after.outcome) == (tier, outcome)


def test_no_re_measure_in_time_hands_the_alert_to_the_nurse() -> None:
    s = start(POLICY, Severity.MODERATE, False, T0).state
    assert timeout(s).state.tier is Tier.NURSE


def test_a_dangerous_alert_cannot_be_snoozed() -> None:
    s = start(POLICY, Severity.HIGH, True, T0).state
    snooze = step(s, Snoozed(T0 + 8 * HOUR, "patient travelling", "nurse-a"), T0 + 1)
    assert snooze.state == s and isinstance(snooze.effects[0], Refused)


def test_a_dangerous_repeat_ends_a_snooze_at_once() -> None:
    s = start(POLICY, Severity.HIGH, False, T0).state
    snoozed = step(s, Snoozed(T0 + 8 * HOUR, "known artefact", "nurse-a"), T0 + 1).state
    assert snoozed.deadline == T0 + 8 * HOUR
    repeat = step(snoozed, Repeated(dangerous=True), T0 + 2 * HOUR)
    assert repeat.effects == (Notify(Tier.NURSE),)
    assert repeat.state.deadline == T0 + 3 * HOUR and repeat.state.snoozed is None


def test_after_a_dangerous_repeat_a_clinician_had_the_alert_cannot_be_snoozed() -> None:
    s = start(POLICY, Severity.HIGH, False, T0).state  # the nurse has it, not snoozed
    repeat = step(s, Repeated(dangerous=True), T0 + 60)
    assert repeat.effects == () and repeat.state.deadline == s.deadline  # she has it already
    snooze = step(repeat.state, Snoozed(T0 + 8 * HOUR, "known artefact", "nurse-a"), T0 + 120)
    assert snooze.state == repeat.state and isinstance(snooze.effects[0], Refused)


def test_a_confirmed_re_measure_ends_a_snooze_at_tier_1() -> None:
    s = start(POLICY, Severity.MODERATE, False, T0).state
    snoozed = step(s, Snoozed(T0 + HOUR, "patient asleep", "nurse-a"), T0 + 1).state
    confirmed = step(snoozed, Remeasured(in_range=False), T0 + 10 * MIN)
    assert confirmed.effects == (Notify(Tier.NURSE),) and confirmed.state.snoozed is None
    assert confirmed.state.deadline == T0 + 10 * MIN + 4 * HOUR  # a fresh acknowledgement clock


@pytest.mark.parametrize(
    ("severity", "tier", "effects"),
    [
        (Severity.HIGH, Tier.NURSE, (Notify(Tier.NURSE),)),
        (Severity.MODERATE, Tier.PATIENT, (PromptPatient("remeasure"),)),
    ],
)
def test_the_end_of_a_snooze_hands_the_alert_back_to_its_tier(
    severity: Severity, tier: Tier, effects: tuple[object, ...]
) -> None:
    s = start(POLICY, severity, False, T0).state
    snoozed = step(s, Snoozed(T0 + 8 * HOUR, "patient at the clinic", "nurse-a"), T0 + 1).state
    back = timeout(snoozed)
    assert back.effects == effects
    assert (back.state.tier, back.state.snoozed) == (tier, None)
    assert back.state.deadline == T0 + 8 * HOUR + POLICY.clock(severity, tier).ack_s


@pytest.mark.parametrize(
    ("severity", "dangerous", "silenced", "effects"),
    [
        (Severity.HIGH, False, True, ()),  # quiet until the silence ends
        (Severity.MODERATE, False, True, ()),
        (Severity.HIGH, True, False, (Notify(Tier.NURSE),)),  # a dangerous value: never silent
        (Severity.CRITICAL, True, False, (Notify(Tier.DOCTOR), Notify(Tier.NURSE))),
    ],
)
def test_a_silence_opens_an_alert_quietly_but_never_a_dangerous_one(
    severity: Severity, dangerous: bool, silenced: bool, effects: tuple[object, ...]
) -> None:
    opened = start(POLICY, severity, dangerous, T0, Silence(T0 + 2 * HOUR, "clinic visit"))
    assert opened.effects == effects
    assert (opened.state.deadline == T0 + 2 * HOUR) is silenced
    if silenced:  # when it ends, the entry tier hears of it
        assert timeout(opened.state).effects == start(POLICY, severity, dangerous, T0).effects[:1]


def test_resolution_is_final() -> None:
    s = step(start(POLICY, Severity.HIGH, False, T0).state, Resolved(Outcome.VISIT_BOOKED, "n"), T0)
    for event in (DeadlinePassed(s.state.fence), EscalateRequested("n"), Repeated(True)):
        assert step(s.state, event, T0 + 1) == Step(s.state)


# --- stateful: the machine against a reference model --------------------------------------------


@dataclass
class Model:
    """The rules of DESIGN 5 written plainly, to check the machine against."""

    tier: int
    awaiting_ack: bool
    deadline: float | None
    dangerous: bool
    backup: bool = False
    snoozed: bool = False
    resolved: bool = False
    notified: int = 0  # notifications to clinicians, backups included


SEVERITIES = st.sampled_from([Severity.CRITICAL, Severity.HIGH, Severity.MODERATE])


class EscalationMachine(RuleBasedStateMachine):
    @initialize(severity=SEVERITIES, dangerous=st.booleans())
    def open(self, severity: Severity, dangerous: bool) -> None:
        self.now = T0
        first = start(POLICY, severity, dangerous, self.now)
        self.s, self.stale_fences = first.state, []
        tier = {Severity.CRITICAL: 3, Severity.HIGH: 2}.get(severity, 1)
        tier = max(tier, 2) if dangerous else tier
        self.m = Model(tier, tier > 1, first.deadline, dangerous,
                       notified=sum(isinstance(e, Notify) for e in first.effects))  # fmt: skip
        assert self.m.notified == {1: 0, 2: 1, 3: 2}[tier]

    def apply(self, event: object, *, expect_notify: int = 0) -> Step:
        before = self.s
        out = step(self.s, event, self.now)  # type: ignore[arg-type]
        self.s = out.state
        if out.state.fence != before.fence:
            self.stale_fences.append(before.fence)
        notified = sum(isinstance(e, Notify) for e in out.effects)
        assert notified == expect_notify, (event, out.effects)
        self.m.notified += notified
        return out

    def escalate_model(self) -> int:
        """What a missed deadline or an escalation does in the model; notifications expected."""
        m = self.m
        if m.tier < 3:
            m.tier += 1
            m.awaiting_ack, m.backup, m.snoozed = True, False, False
            return 1
        m.awaiting_ack, m.backup, m.snoozed = True, True, False
        return 1

    def snooze_ends(self) -> int:
        """The same tier is told again (the patient is prompted again at tier 1)."""
        m = self.m
        m.awaiting_ack, m.backup, m.snoozed = m.tier > 1, False, False
        return int(m.tier > 1)

    @rule(minutes=st.integers(0, 3000))
    def time_passes(self, minutes: int) -> None:
        self.now += minutes * MIN
        if self.m.resolved or self.s.deadline is None or self.now < self.s.deadline:
            return
        self.now = self.s.deadline  # the timer fires at its deadline
        expected = self.snooze_ends() if self.m.snoozed else self.escalate_model()
        self.apply(DeadlinePassed(self.s.fence), expect_notify=expected)

    @rule(data=st.data())
    def stale_timer(self, data: st.DataObject) -> None:
        if self.stale_fences:
            fence = data.draw(st.sampled_from(self.stale_fences))
            if self.s.deadline is not None:  # delivered late: at the current deadline, when
                self.now = max(self.now, self.s.deadline)  # the current timer is due as well
            before = self.s
            assert self.apply(DeadlinePassed(fence)) == Step(before)

    @rule()
    def acknowledge(self) -> None:
        before = self.s
        out = self.apply(Acknowledged("staff"))
        if self.m.resolved:
            return
        if self.m.tier > 1 and self.m.awaiting_ack:
            self.m.awaiting_ack = False
        else:  # only the patient has it, or it is acknowledged already
            assert out.state == before and isinstance(out.effects[0], Refused)

    @rule(outcome=st.sampled_from(list(Outcome)))
    def resolve(self, outcome: Outcome) -> None:
        self.apply(Resolved(outcome, "staff"))
        self.m.resolved = True

    @rule(in_range=st.booleans())
    def remeasure(self, in_range: bool) -> None:
        patient = self.m.tier == 1 and not self.m.resolved
        self.apply(Remeasured(in_range), expect_notify=int(patient and not in_range))
        if patient and in_range:
            self.m.resolved = True
        elif patient:  # confirmed: the nurse has it now, afresh (a snooze at tier 1 ends here)
            self.m.tier, self.m.awaiting_ack, self.m.backup, self.m.snoozed = 2, True, False, False

    @rule()
    def escalate(self) -> None:
        expected = 0 if self.m.resolved else self.escalate_model()
        self.apply(EscalateRequested("staff"), expect_notify=expected)

    @rule(tier=st.sampled_from([Tier.NURSE, Tier.DOCTOR]))
    def nobody_on_call(self, tier: Tier) -> None:
        m, expected = self.m, 0
        if not m.resolved and tier == m.tier:
            if not m.backup:
                m.backup, expected = True, 1
            else:
                expected = self.escalate_model()
        self.apply(NobodyOnCall(tier), expect_notify=expected)

    @rule(hours=st.integers(1, 48))
    def snooze(self, hours: int) -> None:
        out = self.apply(Snoozed(self.now + hours * HOUR, "reason", "staff"))
        if not self.m.resolved and self.m.dangerous:
            assert isinstance(out.effects[0], Refused)
        elif out.state.snoozed is not None:
            self.m.snoozed = True

    @rule(dangerous=st.booleans())
    def repeat(self, dangerous: bool) -> None:
        m = self.m
        act = not m.resolved and dangerous and (m.tier == 1 or m.snoozed)
        self.apply(Repeated(dangerous), expect_notify=(2 if m.tier == 3 else 1) if act else 0)
        if act:
            m.tier = max(m.tier, 2)
            m.awaiting_ack, m.backup, m.snoozed = True, False, False
        if not m.resolved and dangerous:  # once seen, never snoozed again
            m.dangerous = True

    @invariant()
    def matches_the_model(self) -> None:
        if not hasattr(self, "s"):
            return
        s, m = self.s, self.m
        assert s.resolved is m.resolved
        if m.resolved:
            assert s.deadline is None
            return
        assert int(s.tier) == m.tier
        assert s.deadline is not None and s.deadline >= self.now  # never silently parked
        assert (s.due is Due.ACK) is (m.tier > 1 and m.awaiting_ack)
        assert s.dangerous is m.dangerous
        assert not (s.dangerous and s.tier is Tier.PATIENT)  # a clinician always has it
        assert s.backup_paged is m.backup


EscalationMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=30,
                                               deadline=None)  # fmt: skip
test_escalation_matches_the_reference_model = EscalationMachine.TestCase
