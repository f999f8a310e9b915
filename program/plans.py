"""Measurement plans (issue 11 part 2): what a patient measures, how often and when, and the
per-condition templates a plan starts from. Pure: frozen specs and a template table, no I/O.

A plan is a set of items. An item names its metrics (a blood-pressure reading is systolic and
diastolic together), a frequency (`times_per_day` at local times, `daily`, `weekly`,
`continuous` for a CGM) and a grace period: how long a missed item waits for the patient (who
gets a tier-1 reminder first) before the nurse is told (program.stopped).

Templates are a declarative table with their sources; a deployment's clinical lead signs them
off (DESIGN 10). Items are versioned in the database (`plan_items.valid_from/valid_to`), so a
changed plan leaves what was expected before the change as it was.

Must not: read a clock (callers pass `now`) or know about SQL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time
from types import MappingProxyType

from program.slots import Frequency, Schedule

DAY_S = 86400
METRICS = frozenset({"systolic_bp", "diastolic_bp", "heart_rate", "respiratory_rate", "spo2",
                     "glucose", "weight", "body_temperature"})  # fmt: skip
BP = ("systolic_bp", "diastolic_bp")
__all__ = ["DEFAULT_GRACE_S", "TEMPLATES", "Frequency", "PlanItem", "PlanTemplate", "template_for"]


# The default grace period per frequency: daily measurements 3 days (issue 11); a CGM is
# continuous, so a day without data is already long; a weekly item gets its week and 3 days.
DEFAULT_GRACE_S: Mapping[Frequency, int] = MappingProxyType({
    Frequency.TIMES_PER_DAY: 3 * DAY_S, Frequency.DAILY: 3 * DAY_S,
    Frequency.WEEKLY: 10 * DAY_S, Frequency.CONTINUOUS: DAY_S,
})  # fmt: skip


@dataclass(frozen=True, slots=True)
class PlanItem:
    """One item of a plan, as in force from `valid_from` until `valid_to` (None: still)."""

    item_key: str
    metrics: tuple[str, ...]
    frequency: Frequency
    local_times: tuple[time, ...] = ()
    weekday: int | None = None
    grace_s: int = 3 * DAY_S
    template: str = ""
    valid_from: datetime | None = None
    valid_to: datetime | None = None

    def __post_init__(self) -> None:
        if not self.item_key or not self.metrics or not set(self.metrics) <= METRICS:
            raise ValueError(f"plan item {self.item_key!r}: unknown or missing metrics")
        if self.frequency is Frequency.TIMES_PER_DAY and not self.local_times:
            raise ValueError(f"plan item {self.item_key!r}: times_per_day needs local times")
        if list(self.local_times) != sorted(set(self.local_times)):
            raise ValueError(f"plan item {self.item_key!r}: local times must be distinct, sorted")
        if self.weekday is not None and not 0 <= self.weekday <= 6:
            raise ValueError(f"plan item {self.item_key!r}: weekday is 0 (Monday) to 6")
        if self.grace_s <= 0:
            raise ValueError(f"plan item {self.item_key!r}: the grace period must be positive")
        for t in (self.valid_from, self.valid_to):
            if t is not None and t.tzinfo is None:
                raise ValueError("validity times must be time-zone aware")

    @property
    def schedule(self) -> Schedule:
        return Schedule(self.frequency, self.local_times, self.weekday, self.valid_from,
                        self.valid_to)  # fmt: skip

    def in_force(self, at: datetime) -> bool:
        after = self.valid_from is None or self.valid_from <= at
        return after and (self.valid_to is None or at < self.valid_to)


@dataclass(frozen=True, slots=True)
class FollowUpCalls:
    """Nurse follow-up calls a template schedules (tasks are program.tasks' business): every
    `first_every_days` for `first_count` calls, then every `then_every_days`."""

    first_every_days: int
    first_count: int
    then_every_days: int


@dataclass(frozen=True, slots=True)
class PlanTemplate:
    name: str
    items: tuple[PlanItem, ...]
    source: str
    follow_up: FollowUpCalls | None = None
    codes: frozenset[str] = field(default_factory=frozenset)  # "icd10:I10", "snomed:38341003"


def _item(key: str, metrics: tuple[str, ...], freq: Frequency, *times: str,
          weekday: int | None = None, template: str) -> PlanItem:  # fmt: skip
    return PlanItem(key, metrics, freq, tuple(time.fromisoformat(t) for t in times), weekday,
                    DEFAULT_GRACE_S[freq], template)  # fmt: skip


TEMPLATES: Mapping[str, PlanTemplate] = MappingProxyType({t.name: t for t in (
    # Home BP: duplicate readings morning (before medication) and evening (Stergiou et al.,
    # 2021 ESH practice guidelines for office and out-of-office BP measurement, J Hypertens
    # 2021;39:1293; Chinese guideline for home BP monitoring 2019).
    PlanTemplate("hypertension", (
        _item("bp", BP, Frequency.TIMES_PER_DAY, "07:30", "19:30", template="hypertension"),),
        "ESH 2021 home BP monitoring: morning and evening",
        codes=frozenset({"icd10:I10", "icd10:I11", "icd10:I12", "icd10:I13", "icd10:I15",
                         "snomed:38341003", "snomed:59621000"})),
    # Non-insulin type 2 diabetes: a daily fasting glucose (ADA Standards of Care 2025, section 7:
    # SMBG frequency individualised; China National Basic Public Health Service spec, 3rd ed.).
    PlanTemplate("type2_diabetes", (
        _item("fasting_glucose", ("glucose",), Frequency.DAILY, "07:00",
              template="type2_diabetes"),),
        "ADA Standards of Care section 7; China NBPHS spec: fasting glucose",
        codes=frozenset({"icd10:E11", "snomed:44054006"})),
    # Insulin: before meals and at bedtime (ADA Standards of Care 2025, 7: SMBG before meals,
    # at bedtime ... for multiple daily injections).
    PlanTemplate("insulin_diabetes", (
        _item("glucose_4x", ("glucose",), Frequency.TIMES_PER_DAY, "07:00", "11:30", "17:30",
              "21:30", template="insulin_diabetes"),),
        "ADA Standards of Care section 7: SMBG before meals and at bedtime",
        codes=frozenset({"icd10:E10", "icd10:Z79.4", "snomed:46635009"})),
    # Insulin with a CGM: continuous (ADA 7; Battelino et al., Diabetes Care 2019: >= 70 % wear).
    PlanTemplate("insulin_cgm", (
        _item("cgm", ("glucose",), Frequency.CONTINUOUS, template="insulin_cgm"),),
        "ADA Standards of Care section 7; Battelino 2019 (CGM, >= 70 % data)"),
    # Heart failure: weigh every morning, and BP daily (McDonagh et al., 2021 ESC heart failure
    # guidelines: daily weights, act on a gain of > 2 kg in 3 days).
    PlanTemplate("heart_failure", (
        _item("weight", ("weight",), Frequency.DAILY, "07:00", template="heart_failure"),
        _item("bp_daily", BP, Frequency.DAILY, "08:00", template="heart_failure"),),
        "ESC 2021 heart failure guidelines: daily weight",
        codes=frozenset({"icd10:I50", "snomed:84114007"})),
    # After discharge: daily vitals; nurse calls weekly for 4 weeks, then monthly (program
    # choice; transitional care asks for a first contact within days: CMS TCM 99495/99496).
    PlanTemplate("post_discharge", (
        _item("bp_daily", BP, Frequency.DAILY, "08:00", template="post_discharge"),
        _item("heart_rate", ("heart_rate",), Frequency.DAILY, "08:00",
              template="post_discharge"),
        _item("spo2", ("spo2",), Frequency.DAILY, "08:00", template="post_discharge"),),
        "CMS transitional care management; program follow-up calls",
        FollowUpCalls(first_every_days=7, first_count=4, then_every_days=30)),
)})  # fmt: skip


def template_for(code_system: str, code: str) -> PlanTemplate | None:
    """The template a coded condition suggests (ICD-10 codes match on their category)."""
    keys = (f"{code_system}:{code}", f"{code_system}:{code.split('.')[0]}")
    return next((t for t in TEMPLATES.values() if any(k in t.codes for k in keys)), None)


def merge(items: tuple[PlanItem, ...], extra: tuple[PlanItem, ...]) -> tuple[PlanItem, ...]:
    """Items of several templates as one plan: the first item with a key wins."""
    seen: dict[str, PlanItem] = {}
    for item in (*items, *extra):
        seen.setdefault(item.item_key, item)
    return tuple(seen.values())
