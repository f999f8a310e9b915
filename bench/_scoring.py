"""Scoring by who is disturbed (issue 12, part 5): a detector's prompts to patients and pages to
staff against the true values, per patient. Pure functions over plain numbers.

Times are seconds since the cohort's start; the truth is a 1-min grid of true values. What a
detector did, per patient, is an `Alerting`: the tier-1 prompts sent, the first clinician page
of each alert, and the first contact (prompt or page) of each alert. A reference rule's alert
is all three at once (it both prompts and pages).

Glucose (mg/dL):
- level-1 episodes: true glucose < 70 for >= 15 min; level 2: < 54 for >= 15 min (ADA
  Standards of Care 6; Battelino et al., Diabetes Care 2019);
- level-1 sensitivity: episodes with a first contact from 60 min before the start to the end;
  level-2 sensitivity: level-2 episodes with a clinician page in that window (a value
  dangerous on its own must reach a clinician);
- lead: episode start minus the first contact in the window (positive: before the crossing);
- a prompt is false when true glucose stays >= 70 from 30 min before it to 60 min after (not
  low, not falling into low within the hour);
- a page is false when true glucose stays >= 70 from 30 min before it to 30 min after.

SpO2 (%):
- desaturations: true SpO2 < 90 for >= 2 min; sensitivity: a first contact from 15 min before
  the start to 2 min after the end (the operator sees a 1-min reading up to a tick later);
- a page (or prompt) is false when true SpO2 stays > 92 (the NHS oximetry escalation level)
  from 15 min before it to 15 min after.

Must not: run detectors or simulate anything.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
MIN_S = 60.0
DAY_S = 86_400.0


@dataclass(frozen=True, slots=True)
class Alerting:
    """What a detector did to one patient (seconds since the start)."""

    prompts: tuple[float, ...] = ()
    pages: tuple[float, ...] = ()  # first clinician notification of each alert that had one
    contacts: tuple[float, ...] = ()  # first prompt or page of each alert
    prompt_rules: tuple[str, ...] = ()  # the rule of each prompt, when known (a diagnosis)
    page_rules: tuple[str, ...] = ()

    @staticmethod
    def reference(times: Sequence[float]) -> Alerting:
        t = tuple(times)
        return Alerting(t, t, t)


@dataclass(frozen=True, slots=True)
class Rule:
    """How one family is scored (see the module docstring)."""

    low: Callable[[FloatArray], npt.NDArray[np.bool_]]  # an episode's condition
    min_episode_s: float
    before_s: float  # detection window opens this long before an episode
    after_s: float  # ... and closes this long after its end
    warranted: Callable[[FloatArray], npt.NDArray[np.bool_]]  # a contact is justified
    prompt_window_s: tuple[float, float]  # (before, after) the prompt, for `warranted`
    page_window_s: tuple[float, float]
    severe: Callable[[FloatArray], npt.NDArray[np.bool_]] | None = None  # level 2


GLUCOSE = Rule(
    low=lambda g: g < 70.0, min_episode_s=900.0, before_s=3600.0, after_s=0.0,
    warranted=lambda g: g < 70.0, prompt_window_s=(1800.0, 3600.0),
    page_window_s=(1800.0, 1800.0), severe=lambda g: g < 54.0,
)  # fmt: skip
SPO2 = Rule(
    low=lambda s: s < 90.0, min_episode_s=120.0, before_s=900.0, after_s=120.0,
    warranted=lambda s: s <= 92.0, prompt_window_s=(900.0, 900.0), page_window_s=(900.0, 900.0),
)  # fmt: skip


def runs(
    grid_s: FloatArray, abnormal: npt.NDArray[np.bool_], min_s: float
) -> list[tuple[float, float]]:
    """Runs of `abnormal` lasting at least `min_s`: (first abnormal time, first normal time; one
    step past the last sample for a run still going at the end)."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], abnormal.astype(np.int8), [0]))))
    step = float(grid_s[1] - grid_s[0]) if len(grid_s) > 1 else 0.0
    out = []
    for first, back in zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True):
        end = float(grid_s[back]) if back < len(grid_s) else float(grid_s[-1]) + step
        if end - float(grid_s[first]) >= min_s:
            out.append((float(grid_s[first]), end))
    return out


@dataclass(slots=True)
class Tally:
    """Counts over patients; `figures` turns them into rates."""

    patient_days: float = 0.0
    episodes: int = 0
    detected: int = 0
    severe: int = 0
    severe_paged: int = 0
    leads_s: list[float] = field(default_factory=list)
    prompts: int = 0
    false_prompts: int = 0
    pages: int = 0
    false_pages: int = 0
    false_by_rule: dict[str, int] = field(default_factory=dict)  # "prompt|page rule" -> count

    def add(self, other: Tally) -> None:
        for name in ("patient_days", "episodes", "detected", "severe", "severe_paged", "prompts",
                     "false_prompts", "pages", "false_pages"):  # fmt: skip
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.leads_s.extend(other.leads_s)
        for key, n in other.false_by_rule.items():
            self.false_by_rule[key] = self.false_by_rule.get(key, 0) + n

    def figures(self) -> dict[str, float | int | None]:
        days = self.patient_days or 1.0
        return {
            "episodes": self.episodes,
            "sensitivity": _share(self.detected, self.episodes),
            "level2_episodes": self.severe,
            "level2_sensitivity": _share(self.severe_paged, self.severe),
            "median_lead_min": (
                round(statistics.median(self.leads_s) / 60.0, 1) if self.leads_s else None
            ),
            "prompts_per_pt_day": round(self.prompts / days, 3),
            "false_prompts_per_pt_day": round(self.false_prompts / days, 3),
            "pages_per_pt_day": round(self.pages / days, 3),
            "false_pages_per_pt_day": round(self.false_pages / days, 3),
        }


def _share(n: int, of: int) -> float | None:
    return round(n / of, 3) if of else None


def _any_between(grid_s: FloatArray, flags: npt.NDArray[np.bool_], lo: float, hi: float) -> bool:
    i = int(np.searchsorted(grid_s, lo, side="left"))
    j = int(np.searchsorted(grid_s, hi, side="right"))
    return bool(flags[i:j].any())


def _first_in(times: Sequence[float], lo: float, hi: float) -> float | None:
    return min((t for t in times if lo <= t <= hi), default=None)


def score_patient(rule: Rule, true: FloatArray, did: Alerting) -> Tally:
    """One patient's tally: `true` on a 1-min grid from 0."""
    grid = np.arange(len(true), dtype=np.float64) * MIN_S
    t = Tally(patient_days=len(true) * MIN_S / DAY_S)
    for start, end in runs(grid, rule.low(true), rule.min_episode_s):
        t.episodes += 1
        first = _first_in(did.contacts, start - rule.before_s, end + rule.after_s)
        if first is not None:
            t.detected += 1
            t.leads_s.append(start - first)
    if rule.severe is not None:
        for start, end in runs(grid, rule.severe(true), rule.min_episode_s):
            t.severe += 1
            t.severe_paged += _first_in(did.pages, start - rule.before_s, end) is not None
    warranted = rule.warranted(true)
    t.prompts, t.pages = len(did.prompts), len(did.pages)
    for kind, times, rules, (before, after) in (
        ("prompt", did.prompts, did.prompt_rules, rule.prompt_window_s),
        ("page", did.pages, did.page_rules, rule.page_window_s),
    ):
        for k, at in enumerate(times):
            if _any_between(grid, warranted, at - before, at + after):
                continue
            key = f"{kind} {rules[k] if k < len(rules) else '-'}"
            t.false_by_rule[key] = t.false_by_rule.get(key, 0) + 1
    t.false_prompts = sum(n for k, n in t.false_by_rule.items() if k.startswith("prompt "))
    t.false_pages = sum(n for k, n in t.false_by_rule.items() if k.startswith("page "))
    return t


def score(rule: Rule, truths: Sequence[FloatArray], did: Sequence[Alerting]) -> Tally:
    total = Tally()
    for true, alerting in zip(truths, did, strict=True):
        total.add(score_patient(rule, true, alerting))
    return total
