"""Which rule enters at which tier (DESIGN 5): the routing policy table, one row per rule that
does not simply follow its severity, each citing its source. Pure data and one lookup.

The escalation machine (alerts.escalation) reads a `Route` when an alert opens and stays the one
place that decides: the route only says where the alert enters, how long the patient has at tier
1, which message the patient gets, whether a repeat at tier 1 escalates, and which earlier
episodes count as a recurrence that goes to the nurse at once. A rule without a row enters by
severity (critical: tiers 3 and 2, high: tier 2, otherwise tier 1).

What the patient can act on goes to the patient first: a predicted or level-1 low glucose is a
tier-1 message (check, take 15 g of fast carbohydrate, re-check in 15 minutes). The nurse is paged
when the patient does not confirm recovery within `remeasure_s` (two "rule of 15" cycles), when
lows recur (a second level-1 episode within 24 h), or at level 2, measured or predicted within 20
minutes. A value dangerous on its own always reaches a clinician whatever its route
(`escalation.start`). Must not: evaluate readings, or import the stream's rule table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from alerts.escalation import MIN, Route, Tier

ADA_HYPO = (
    "ADA Standards of Care in Diabetes 2024, section 6: treat glucose < 70 mg/dL with 15-20 g "
    "of fast carbohydrate, re-check after 15 min, repeat if still low"
)
ADA_RECUR = (
    "ADA Standards of Care in Diabetes 2024, section 6: recurrent level-1 or any level-2 "
    "hypoglycaemia calls for a review of the treatment plan (here: 2 level-1 episodes in 24 h)"
)
DEXCOM_ULS = (
    "Dexcom G6/G7 'Urgent Low Soon': glucose predicted at or below 55 mg/dL within 20 minutes "
    "alerts at once, and cannot be switched off"
)
NELLCOR_SAT = (
    "Nellcor SatSeconds (Medtronic): the area of desaturation below the limit, so brief motion "
    "artefacts do not alarm; BTS emergency oxygen guideline 2017 (SpO2 < 88 % needs action)"
)

NHS_REVIEW = (
    "NHS England, pulse oximetry at home: SpO2 93-94 % calls for a clinical review within hours, "
    "<= 92 % for urgent assessment"
)

PLAN_GRACE = (
    "The patient's measurement plan (program.plans, ESH 2021 home BP, ADA, ESC 2021): once the "
    "item's grace period has passed the patient is reminded first and the nurse paged 15 min "
    "later if no reading arrives; the scheduler's re-check each minute is not a re-measure"
)

GLUCOSE_LOW = "glucose_low"  # the tier-1 template of low-glucose routes (alerts.messages)
LEVEL1 = ("glucose.level1_low", "glucose.level1_low_meter")
RECUR_WINDOW_S = 24 * 60 * MIN  # the recurrence window: 2 level-1 episodes in 24 h
# Alerts opened this shortly before are the same low seen again (the patient's meter re-check
# of a CGM low, a CGM low after its meter low): not a recurrence.
SAME_EPISODE_S = 2 * 60 * MIN


def _patient_first(source: str, recur_n: int) -> Route:
    """A low the patient can treat: tier 1 for 30 min (two cycles of the rule of 15); a repeat
    reading is not a confirmation (the deadline decides); with `recur_n`, the `recur_n`-th
    level-1 episode within 24 h goes to the nurse at once."""
    return Route(Tier.PATIENT, source, 30 * MIN, GLUCOSE_LOW, False, LEVEL1, recur_n)


ROUTES: Mapping[str, Route] = MappingProxyType(
    {
        # a prediction is not an episode: it never counts as a recurrence on its own
        "glucose.predicted_low": _patient_first(ADA_HYPO, 0),
        "glucose.level1_low": _patient_first(f"{ADA_HYPO}; {ADA_RECUR}", 2),
        "glucose.level1_low_meter": _patient_first(f"{ADA_HYPO}; {ADA_RECUR}", 2),
        "glucose.urgent_low_soon": Route(Tier.NURSE, DEXCOM_ULS),
        "glucose.level2_low": Route(Tier.DOCTOR, "ADA 2024 section 6: level 2 (< 54 mg/dL)"),
        "spo2.desaturation": Route(Tier.NURSE, NELLCOR_SAT),
        "spo2.severe": Route(Tier.NURSE, NELLCOR_SAT),
        # 93-94 %: a review within hours (NHS), which a wrist oximeter's next reading a minute
        # later cannot confirm: the patient is asked to rest and re-measure, and the nurse is
        # paged if it has not cleared (3 readings >= 95 %) within the hour
        "spo2.review": Route(Tier.PATIENT, NHS_REVIEW, 60 * MIN, repeat_confirms=False),
        # raised by the care program's scheduler (program.stopped), not by the stream
        "program.stopped_measuring": Route(
            Tier.PATIENT, PLAN_GRACE, 15 * MIN, repeat_confirms=False
        ),
    }
)


def route_for(rule_id: str) -> Route | None:
    """The rule's row of the table; None: it enters by severity."""
    return ROUTES.get(rule_id)


@dataclass(frozen=True, slots=True)
class Recent:
    """Earlier alerts of the patient opened from `RECUR_WINDOW_S` to `SAME_EPISODE_S` before
    this one, per rule."""

    by_rule: Mapping[str, int]

    def episodes(self, route: Route | None) -> int:
        if route is None:
            return 0
        return sum(self.by_rule.get(rule, 0) for rule in route.recur_family)
