"""Risk tags and tiers (DESIGN 11): each tag from a cited rule, as a table of frozen specs over a
patient's figures, and the tier as a declarative mapping from the tags.

The figures (means, percentages, counts, ages in days) are computed set-based in SQL by
`program.risk_store`; this module only decides. A figure that is missing (None: no data) never
satisfies a condition, so "no readings" is never "controlled" and never "uncontrolled" either:
it is what the `not_measuring` tag is for.

Must not: read the database or the clock (the figures are computed at a `now` chosen by the
caller), or know any patient's identity.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from types import MappingProxyType

Figures = Mapping[str, float | None]


class Tier(IntEnum):
    LOW = 0
    MEDIUM = 1
    HIGH = 2

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def of(cls, label: str) -> Tier:
        return cls[label.upper()]


class Tag(StrEnum):
    UNCONTROLLED_BP = "uncontrolled_bp"
    GLUCOSE_BELOW_RANGE = "glucose_below_range"
    GLUCOSE_LOW_TIME_IN_RANGE = "glucose_low_time_in_range"
    LEVEL2_HYPO = "level2_hypo"
    HF_WEIGHT_GAIN = "hf_weight_gain"
    NEWS2_HIGH = "news2_high"
    NOT_MEASURING = "not_measuring"
    OPEN_HIGH_ALERT = "open_high_alert"
    RECENT_HOSPITALISATION = "recent_hospitalisation"


_OPS: Mapping[str, Callable[[float, float], bool]] = MappingProxyType(
    {">=": operator.ge, ">": operator.gt, "<": operator.lt, "<=": operator.le}
)


@dataclass(frozen=True, slots=True)
class Condition:
    figure: str  # a key of the figures (program.risk_store.FIGURES)
    op: str  # one of _OPS
    threshold: float

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ValueError(f"unknown comparison {self.op!r}")

    def holds(self, figures: Figures) -> bool:
        value = figures.get(self.figure)
        return value is not None and _OPS[self.op](value, self.threshold)


@dataclass(frozen=True, slots=True)
class TagRule:
    tag: Tag
    tier: Tier  # the tier this tag alone puts the patient in
    any_of: tuple[Condition, ...]  # the finding
    requires: tuple[Condition, ...]  # enough data for the finding to mean something
    title: str
    source: str

    def applies(self, figures: Figures) -> bool:
        return all(c.holds(figures) for c in self.requires) and any(
            c.holds(figures) for c in self.any_of
        )


def _c(figure: str, op: str, threshold: float) -> Condition:
    return Condition(figure, op, threshold)


ESH = "ESH 2023 guidelines / ESH 2021 practice guidelines on BP measurement: home BP >= 135/85"
TIR = "Battelino et al., Diabetes Care 2019;42:1593 (international consensus on time in range)"
ADA_HYPO = "ADA Standards of Care 6 / IHSG 2017: level 2 hypoglycaemia < 54 mg/dL (3.0 mmol/L)"
ESC_HF = "ESC HF guidelines 2021 (self-care: weight gain > 2 kg in 3 days); AHA/ACC/HFSA 2022"
RCP = "Royal College of Physicians, NEWS2 (2017): aggregate 5-6 urgent, 7+ emergency response"
PLAN = "Vigil plan rule: no reading beyond the plan's grace period (3 days for daily items)"
ALERTS = "Vigil: an unresolved alert of high or critical severity (DESIGN 5)"
REFERRED = "Vigil: an alert resolved as 'referred' (sent to hospital or emergency care) in 30 days"

# 70 % of 14 days of 5-minute CGM data (Battelino 2019: 14 days, >= 70 % of possible readings).
CGM_14D_SUFFICIENT = 0.7 * 14 * 288

RULES: tuple[TagRule, ...] = (
    TagRule(Tag.UNCONTROLLED_BP, Tier.MEDIUM,
            (_c("sys_mean_7d", ">=", 135.0), _c("dia_mean_7d", ">=", 85.0)),
            (_c("bp_n_7d", ">=", 6),),  # Vigil: at least 3 days of morning and evening pairs
            "home BP mean >= 135/85 mmHg over 7 days", ESH),
    TagRule(Tag.GLUCOSE_BELOW_RANGE, Tier.MEDIUM, (_c("tbr_pct_14d", ">", 4.0),),
            (_c("glucose_n_14d", ">=", CGM_14D_SUFFICIENT),),
            "time below range (< 70 mg/dL) > 4 % over 14 days", TIR),
    TagRule(Tag.GLUCOSE_LOW_TIME_IN_RANGE, Tier.MEDIUM, (_c("tir_pct_14d", "<", 70.0),),
            (_c("glucose_n_14d", ">=", CGM_14D_SUFFICIENT),),
            "time in range (70-180 mg/dL) < 70 % over 14 days", TIR),
    TagRule(Tag.LEVEL2_HYPO, Tier.HIGH, (_c("glucose_min_30d", "<", 54.0),), (),
            "a glucose below 54 mg/dL in the last 30 days", ADA_HYPO),
    TagRule(Tag.HF_WEIGHT_GAIN, Tier.HIGH, (_c("weight_gain_3d_kg", ">", 2.0),),
            (_c("heart_failure", ">=", 1),),
            "weight up more than 2 kg within 3 days (heart failure)", ESC_HF),
    TagRule(Tag.NEWS2_HIGH, Tier.HIGH, (_c("news2_max_24h", ">=", 5),), (),
            "NEWS2 of 5 or more in the last 24 hours", RCP),
    TagRule(Tag.NOT_MEASURING, Tier.MEDIUM, (_c("beyond_grace_days", ">=", 0.0),),
            (_c("expected_daily", ">=", 1),),
            "no reading for longer than the plan's grace period", PLAN),
    TagRule(Tag.OPEN_HIGH_ALERT, Tier.HIGH, (_c("open_high_alerts", ">=", 1),), (),
            "an open high or critical alert", ALERTS),
    TagRule(Tag.RECENT_HOSPITALISATION, Tier.HIGH, (_c("referred_30d", ">=", 1),), (),
            "referred to hospital in the last 30 days", REFERRED),
)  # fmt: skip

RULE_BY_TAG: Mapping[Tag, TagRule] = MappingProxyType({r.tag: r for r in RULES})


@dataclass(frozen=True, slots=True)
class Assessment:
    tier: Tier
    tags: tuple[Tag, ...]  # in the order of RULES


def tags_for(figures: Figures, rules: tuple[TagRule, ...] = RULES) -> tuple[Tag, ...]:
    return tuple(r.tag for r in rules if r.applies(figures))


def tier_for(tags: tuple[Tag, ...]) -> Tier:
    """The highest tier any tag puts the patient in; no tag: low."""
    return max((RULE_BY_TAG[t].tier for t in tags), default=Tier.LOW)


def assess(figures: Figures, rules: tuple[TagRule, ...] = RULES) -> Assessment:
    tags = tags_for(figures, rules)
    return Assessment(tier_for(tags), tags)


def is_rise_to_high(before: Tier | None, after: Tier) -> bool:
    """A review task opens when a patient enters the high tier (a first assessment counts)."""
    return after is Tier.HIGH and before is not Tier.HIGH
