"""The three-tier response as a pure state machine (DESIGN 5). No I/O, no clock.

`start(policy, severity, dangerous, now)` opens an alert's escalation and `step(state, event, now)`
moves it on; both return a `Step`: the new state, the effects to carry out (as data: notify a
tier, prompt the patient) and the next deadline, which the caller persists and arms only after
its transaction commits. Times are seconds (the caller's clock, e.g. epoch seconds).

Tiers: 1 the patient (automated re-measure prompt and advice), 2 the care team's on-call nurse,
3 the responsible doctor (the on-call doctor as backup).

- Entry: critical alerts notify tiers 3 and 2 at once and sit at tier 3; high ones go to the
  nurse; the others start with the patient. The policy is snapshotted into the state when the
  alert opens, so a later policy change does not move deadlines already given.
- At each tier there is one deadline at a time: the re-measure at tier 1; the acknowledgement at
  tiers 2 and 3, then, once acknowledged, the resolution (at tier 3 the doctor's callback or
  visit: 48 h by default, one hour when critical). A deadline that passes escalates one tier; at
  tier 3 it pages the backup, and goes on paging it each period: never silently parked.
- Tier 1: a re-measure back in range resolves the alert (auto-resolved); one that confirms it
  escalates to the nurse.
- Nobody reachable on the roster (reported by the notifying adapter): the tier's backup is paged.
- A value dangerous on its own always reaches a clinician: such an alert enters at tier 2 at
  least, cannot be snoozed, and a dangerous repeat of an alert that only the patient had, or
  that was snoozed, hands it to a clinician again at once; after a dangerous repeat the alert
  cannot be snoozed either.
- A silence (per patient and rule, with a reason and an end) opens an alert un-notified, as if
  snoozed until the silence ends; never one raised by a dangerous value.
- Snooze postpones the next deadline, with a reason; when it ends the alert is handed back to
  its tier afresh (notified again, a new acknowledgement deadline), not escalated.
- Timers are fenced: each deadline carries the state's `fence`, and a `DeadlinePassed` with
  another fence (a timer armed before a later transition) or before the deadline changes
  nothing.
- Resolved is final: later events change nothing and cause nothing.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from stream.detections import Severity

MIN = 60.0
HOUR = 3600.0
# Deadlines are stored at microsecond resolution: a timer armed from the stored value may come
# up to a microsecond before the float it was computed from, and is on time.
RESOLUTION_S = 1e-6


class Tier(enum.IntEnum):
    PATIENT = 1
    NURSE = 2
    DOCTOR = 3


class Due(enum.StrEnum):
    REMEASURE = "remeasure"
    ACK = "ack"
    RESOLUTION = "resolution"


class Outcome(enum.StrEnum):
    ADVICE_GIVEN = "advice_given"
    MEDICATION_ADJUSTED = "medication_adjusted"
    CALLBACK_DONE = "callback_done"
    VISIT_BOOKED = "visit_booked"
    REFERRED = "referred"
    FALSE_ALARM = "false_alarm"
    AUTO_RESOLVED = "auto_resolved"


@dataclass(frozen=True, slots=True)
class Clock:
    """Deadlines at one tier for one severity, in seconds."""

    ack_s: float  # tier 1: the re-measure window
    resolve_s: float  # after acknowledgement (unused at tier 1)


def _clocks(nurse: tuple[float, float], doctor: tuple[float, float]) -> dict[Tier, Clock]:
    return {Tier.PATIENT: Clock(15 * MIN, 0.0), Tier.NURSE: Clock(*nurse),
            Tier.DOCTOR: Clock(*doctor)}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Route:
    """Where one rule's alerts enter, when it is not by severity (the table: alerts.routing).

    `remeasure_s`: the patient's deadline at tier 1 (None: the policy's clock); `template`: the
    tier-1 message; `repeat_confirms`: a repeat of the rule at tier 1 counts as a re-measure
    confirming it (the nurse now), else only the deadline escalates; an alert opening with at
    least `recur_n - 1` earlier episodes of `recur_family` in the recurrence window enters at
    tier 2 at least (0: no recurrence rule)."""

    entry: Tier
    source: str
    remeasure_s: float | None = None
    template: str = "remeasure"
    repeat_confirms: bool = True
    recur_family: tuple[str, ...] = ()
    recur_n: int = 0

    def __post_init__(self) -> None:
        if (self.remeasure_s is not None and self.remeasure_s <= 0) or self.recur_n < 0:
            raise ValueError("a route's re-measure window is positive and recur_n >= 0")

    def recurs(self, earlier: int) -> bool:
        return self.recur_n > 0 and earlier + 1 >= self.recur_n


@dataclass(frozen=True, slots=True)
class Policy:
    """Per severity: the entry tier and the clock at each tier. Defaults from DESIGN 5."""

    clocks: Mapping[Severity, Mapping[Tier, Clock]] = field(
        default_factory=lambda: MappingProxyType({
            Severity.CRITICAL: _clocks((15 * MIN, HOUR), (15 * MIN, HOUR)),
            Severity.HIGH: _clocks((HOUR, 4 * HOUR), (4 * HOUR, 48 * HOUR)),
            Severity.MODERATE: _clocks((4 * HOUR, 24 * HOUR), (24 * HOUR, 48 * HOUR)),
            Severity.INFO: _clocks((4 * HOUR, 24 * HOUR), (24 * HOUR, 48 * HOUR)),
        })
    )  # fmt: skip

    def entry(self, severity: Severity) -> Tier:
        return {Severity.CRITICAL: Tier.DOCTOR, Severity.HIGH: Tier.NURSE}.get(
            severity, Tier.PATIENT
        )

    def clock(self, severity: Severity, tier: Tier) -> Clock:
        return self.clocks[severity][tier]


# --- events ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Acknowledged:
    by: str


@dataclass(frozen=True, slots=True)
class Resolved:
    outcome: Outcome
    by: str


@dataclass(frozen=True, slots=True)
class DeadlinePassed:
    fence: int


@dataclass(frozen=True, slots=True)
class Remeasured:
    in_range: bool


@dataclass(frozen=True, slots=True)
class EscalateRequested:
    by: str


@dataclass(frozen=True, slots=True)
class NobodyOnCall:
    tier: Tier


@dataclass(frozen=True, slots=True)
class Snoozed:
    until: float
    reason: str
    by: str


@dataclass(frozen=True, slots=True)
class Repeated:
    dangerous: bool  # the repeat is a value dangerous on its own


Event = (
    Acknowledged | Resolved | DeadlinePassed | Remeasured | EscalateRequested | NobodyOnCall
    | Snoozed | Repeated
)  # fmt: skip


# --- effects -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Notify:
    tier: Tier  # NURSE or DOCTOR: whoever is on call at that tier for the patient's team
    backup: bool = False


@dataclass(frozen=True, slots=True)
class PromptPatient:
    template: str  # "remeasure" (the adapter picks the language)


@dataclass(frozen=True, slots=True)
class Refused:
    reason: str  # an event that the state does not allow (recorded, not raised)


Effect = Notify | PromptPatient | Refused


# --- state and transitions ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Escalation:
    policy: Policy
    severity: Severity
    dangerous: bool  # raised by a value dangerous on its own: no snooze
    tier: Tier
    due: Due | None  # what the deadline is for; None once resolved
    deadline: float | None
    fence: int = 0
    backup_paged: bool = False
    acknowledged_by: str | None = None
    outcome: Outcome | None = None
    snoozed: str | None = None  # the reason of the snooze in force
    # From the alert's route (alerts.routing), snapshotted when it opens:
    prompt: str = "remeasure"  # the tier-1 message template
    remeasure_s: float | None = None  # the tier-1 deadline; None: the policy's clock
    repeat_confirms: bool = True  # a repeat at tier 1 confirms it (the nurse now)

    @property
    def resolved(self) -> bool:
        return self.outcome is not None

    @property
    def confirms_on_repeat(self) -> bool:
        """A repeat of the rule now is a re-measure confirming it (only the patient has it)."""
        return self.tier is Tier.PATIENT and self.repeat_confirms


@dataclass(frozen=True, slots=True)
class Step:
    state: Escalation
    effects: tuple[Effect, ...] = ()

    @property
    def deadline(self) -> float | None:
        return self.state.deadline


@dataclass(frozen=True, slots=True)
class Silence:
    """A patient's silence in force for the alert's rule: no notification until `until`."""

    until: float
    reason: str


def start(
    policy: Policy,
    severity: Severity,
    dangerous: bool,
    now: float,
    silence: Silence | None = None,
    route: Route | None = None,
    earlier: int = 0,
) -> Step:
    """Open the escalation of a new alert. Its route (if any) sets the entry tier, else its
    severity does; a recurrence (`earlier` episodes of the route's family) goes to the nurse at
    least. A value dangerous on its own goes to a clinician (tier 2 at least) whatever its
    severity or route, silence or not. Under a silence the alert waits at its entry tier,
    un-notified, until the silence ends, as if snoozed."""
    tier = policy.entry(severity) if route is None else route.entry
    if dangerous or (route is not None and route.recurs(earlier)):
        tier = max(tier, Tier.NURSE)
    fresh = Escalation(policy, severity, dangerous, tier, None, None)
    if route is not None:
        fresh = replace(fresh, prompt=route.template, remeasure_s=route.remeasure_s,
                        repeat_confirms=route.repeat_confirms)  # fmt: skip
    opened = _enter(fresh, tier, now, both=True)
    if silence is None or dangerous or silence.until <= now:
        return opened
    quiet = replace(opened.state, deadline=silence.until, snoozed=f"silenced: {silence.reason}")
    return Step(quiet)


def _enter(s: Escalation, tier: Tier, now: float, both: bool = False) -> Step:
    """Hand the alert to `tier`, awaiting its acknowledgement (or the patient's re-measure).
    Entering tier 3 directly (`both`) notifies the nurse too: critical goes to both at once."""
    due = Due.REMEASURE if tier is Tier.PATIENT else Due.ACK
    ack_s = s.policy.clock(s.severity, tier).ack_s
    if tier is Tier.PATIENT and s.remeasure_s is not None:
        ack_s = s.remeasure_s
    deadline = now + ack_s
    state = replace(s, tier=tier, due=due, deadline=deadline, fence=s.fence + 1,
                    backup_paged=False, acknowledged_by=None, snoozed=None)  # fmt: skip
    if tier is Tier.PATIENT:
        effects: tuple[Effect, ...] = (PromptPatient(s.prompt),)
    elif tier is Tier.DOCTOR and both:
        effects = (Notify(Tier.DOCTOR), Notify(Tier.NURSE))
    else:
        effects = (Notify(tier),)
    return Step(state, effects)


def _rearm(s: Escalation, due: Due, deadline: float, **changes: object) -> Escalation:
    return replace(s, due=due, deadline=deadline, fence=s.fence + 1, **changes)  # type: ignore[arg-type]


def _escalate(s: Escalation, now: float) -> Step:
    if s.tier < Tier.DOCTOR:
        return _enter(s, Tier(s.tier + 1), now)
    # Top tier: page the backup doctor, and keep paging each period until someone acts.
    period = s.policy.clock(s.severity, Tier.DOCTOR).ack_s
    state = _rearm(s, Due.ACK, now + period, backup_paged=True, acknowledged_by=None,
                   snoozed=None)  # fmt: skip
    return Step(state, (Notify(Tier.DOCTOR, backup=True),))


def step(s: Escalation, event: Event, now: float) -> Step:
    if s.resolved:
        return Step(s)
    match event:
        case DeadlinePassed(fence):
            due = fence == s.fence and s.deadline is not None and now >= s.deadline - RESOLUTION_S
            if not due:
                return Step(s)  # a stale or early timer: nothing
            # The end of a snooze (or silence) hands the alert back to its tier, afresh.
            return _enter(s, s.tier, now) if s.snoozed is not None else _escalate(s, now)
        case Acknowledged(by):
            if s.tier is Tier.PATIENT or s.due is not Due.ACK:
                return Step(s, (Refused("nothing to acknowledge at this tier"),))
            resolve_s = s.policy.clock(s.severity, s.tier).resolve_s
            return Step(_rearm(s, Due.RESOLUTION, now + resolve_s, acknowledged_by=by))
        case Resolved(outcome, _):
            return Step(replace(s, due=None, deadline=None, fence=s.fence + 1, outcome=outcome))
        case Remeasured(in_range):
            if s.tier is not Tier.PATIENT:
                return Step(s)  # a clinician has it: the re-measure is information, not a step
            if in_range:
                return step(s, Resolved(Outcome.AUTO_RESOLVED, "system"), now)
            return _enter(s, Tier.NURSE, now)
        case EscalateRequested(_):
            return _escalate(s, now)
        case NobodyOnCall(tier):
            if tier is not s.tier:
                return Step(s)  # about a tier the alert has left
            if not s.backup_paged:
                return Step(replace(s, backup_paged=True), (Notify(tier, backup=True),))
            return _escalate(s, now)  # the backup is unreachable too
        case Snoozed(until, reason, _):
            if s.dangerous:
                return Step(s, (Refused("a value dangerous on its own cannot be snoozed"),))
            if s.due is None or s.deadline is None or until <= s.deadline:
                return Step(s)
            return Step(_rearm(s, s.due, until, snoozed=reason))
        case Repeated(dangerous):
            if not dangerous:
                return Step(s)  # the episode layer counts the repeat (alerts.response decides
                # whether it is a re-measure: `confirms_on_repeat`)
            if s.tier >= Tier.NURSE and s.snoozed is None:
                # A clinician has it already; from now on it cannot be snoozed.
                return Step(replace(s, dangerous=True))
            # Dangerous, while only the patient had it or a snooze was in force: a clinician now.
            state = replace(s, dangerous=True)
            return _enter(state, max(s.tier, Tier.NURSE), now, both=s.tier is Tier.DOCTOR)
    raise AssertionError(f"unhandled event {event!r}")  # pragma: no cover
