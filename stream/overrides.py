"""Per-patient threshold overrides: versioned, who changed what and why, applied per patient.

An override replaces some parameters of one threshold rule for one patient (e.g. a lower SBP
crisis threshold for a patient after a stroke, a higher hypo threshold for an elderly patient).
Overrides are stored in `threshold_overrides` (never updated in place: a change is a new
version) and loaded by the stream runners, which swap in a fresh `OverrideIndex` when the table
changes (NOTIFY), without a restart. Detections name the version they were evaluated with.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from stream.rules import RuleSet, ThresholdRule

ALLOWED = frozenset({"thresholds", "clear_thresholds", "persistence_n", "within_s", "clear_n"})


class OverrideError(ValueError):
    """An override that cannot apply (unknown rule or parameter, wrong arity): refused at write."""


@dataclass(frozen=True, slots=True)
class Override:
    patient_id: str
    rule_id: str
    version: int
    params: Mapping[str, Any]


def apply(rule: ThresholdRule, params: Mapping[str, Any]) -> ThresholdRule:
    unknown = set(params) - ALLOWED
    if unknown:
        raise OverrideError(f"{rule.id}: cannot override {sorted(unknown)}")
    changes: dict[str, Any] = {}
    for key, value in params.items():
        changes[key] = tuple(float(v) for v in value) if key.endswith("thresholds") else value
    try:
        return replace(rule, **changes)  # __post_init__ validates the result
    except (TypeError, ValueError) as exc:
        raise OverrideError(f"{rule.id}: {exc}") from exc


class OverrideIndex:
    """The latest version of each (patient, rule) override, with the rules already applied."""

    def __init__(self, rules: RuleSet, overrides: Iterable[Override] = ()) -> None:
        by_id = {r.id: r for r in rules.thresholds}
        latest: dict[tuple[str, str], Override] = {}
        for o in overrides:
            key = (o.patient_id, o.rule_id)
            if key not in latest or o.version > latest[key].version:
                latest[key] = o
        self._rules: dict[tuple[str, str], tuple[ThresholdRule, str]] = {}
        for key, o in latest.items():
            if o.rule_id not in by_id:
                raise OverrideError(f"no threshold rule {o.rule_id}")
            self._rules[key] = (apply(by_id[o.rule_id], o.params), f"v{o.version}")
        self.patients = frozenset(p for p, _ in self._rules)

    def rule_for(self, patient_id: str, rule: ThresholdRule) -> tuple[ThresholdRule, str]:
        if patient_id not in self.patients:
            return rule, "default"
        return self._rules.get((patient_id, rule.id), (rule, "default"))
