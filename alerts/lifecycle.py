"""What a detection, or a patient's re-check, does to an alert's escalation: the events fed to
the pure machine (alerts.escalation), in one place for every runner. Pure: no I/O, no clock.

The PostgreSQL adapter (alerts.response.Escalator) and the replay (`vigil replay`, replay/) both
call these, so an alert moves the same way in production and in a replay:

- `opened`: a detection opened the alert: the machine starts, with the rule's route
  (alerts.routing) and the patient's earlier episodes (a late detection is recorded, never
  notified: DESIGN 4);
- `repeated`: the rule fired again on the open alert. At tier 1 a repeat that is neither
  dangerous nor late nor silenced is the re-measure confirming the alert (the nurse now),
  unless the route says the deadline decides (low glucose: the patient is treating it);
  otherwise the machine hears of the repeat (a dangerous one hands it to a clinician);
- `cleared`: the rule's condition cleared. At tier 1 that is a re-measure back in range, which
  resolves the alert; a clinician's alert is left to the clinician;
- `rechecked`: the patient answered a tier-1 prompt with a re-check (e.g. a meter reading):
  in range resolves the alert, out of range escalates it (the machine's `Remeasured`).

Must not: decide tiers or deadlines (the machine does), or read the stream's rule table.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from alerts.escalation import (
    Escalation,
    Event,
    Policy,
    Remeasured,
    Repeated,
    Silence,
    Step,
    Tier,
    start,
    step,
)
from alerts.glucose_units import LEVEL1_LOW_MG_DL
from alerts.routing import Recent, route_for
from stream.detections import Detection

# metric -> the value a re-check must reach to count as recovered (canonical unit). Glucose:
# 70 mg/dL, the level-1 limit the "15-15 rule" re-checks against (ADA Standards of Care, 6),
# which the patient's low-glucose message names in their unit (alerts.messages).
RECHECK_IN_RANGE_AT_LEAST: Mapping[str, float] = MappingProxyType({"glucose": LEVEL1_LOW_MG_DL})
RECENT_WINDOW_S = 24 * 3600.0  # how far back `recent` alerts count (a day: recurrence rules)


def opened(
    policy: Policy,
    d: Detection,
    now: float,
    silence: Silence | None = None,
    recent: Mapping[str, int] | None = None,
) -> Step:
    """`recent`: the patient's earlier alerts in the recurrence window, counted per rule (the
    caller's history: the alerts table, or the replay's episodes; `alerts.routing.Recent`);
    the alert's route (`alerts.routing`) says which of them count as a recurrence."""
    route = route_for(d.rule_id)
    earlier = Recent(recent or {}).episodes(route)
    first = start(policy, d.severity, d.dangerous, now, silence, route, earlier)
    return Step(first.state) if d.late else first


def repeated(state: Escalation, d: Detection, now: float, silenced: bool = False) -> Step:
    dangerous = d.dangerous and not d.late
    event: Event = Repeated(dangerous)
    if state.confirms_on_repeat and not dangerous and not (d.late or silenced):
        event = Remeasured(in_range=False)  # the re-measure confirms it: the nurse now
    return step(state, event, now)


def cleared(state: Escalation, now: float) -> Step:
    if state.tier is not Tier.PATIENT:
        return Step(state)  # a clinician has it and records the outcome
    return step(state, Remeasured(in_range=True), now)


def rechecked(state: Escalation, metric: str, value: float, now: float) -> Step:
    """A re-check of `metric` answering the alert's prompt; unknown metrics change nothing."""
    floor = RECHECK_IN_RANGE_AT_LEAST.get(metric)
    if floor is None:
        return Step(state)
    return step(state, Remeasured(in_range=value >= floor), now)
