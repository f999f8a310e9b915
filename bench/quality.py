"""`vigil bench quality`: how reliably, how early and at whose cost the detectors fire, on cohorts
that do not flatter them (issue 12).

Each cohort (`simulators.quality_cohorts`: CGM patients of two physiology variants seen through
three sensor-error models; SpO2 wearers) goes through the replay (`replay.replay`: the stream
operator and the pure escalation machine in simulated time, with simulated patients answering
tier-1 prompts and simulated staff), exactly as `vigil replay FILE` runs a recorded file. In the
same run, on the same readings, two references: the single-reading rule and a Nightscout-style
AR2 forecast (`bench._references`); each of their alerts counts as a prompt and as a page.
Scoring (`bench._scoring`) separates who is disturbed: false patient prompts and false staff
pages per patient-day, level-1 and level-2 sensitivity, median lead of the first contact.

Runs per (family, error model, physiology, seed); the figures per (error model, seed) pool the
two physiologies; the medians are over seeds. Targets (issue 12, per CGM error model): level-1
and level-2 sensitivity >= 0.95, median lead >= 15 min, false pages <= 0.10 /pt-day, false
prompts <= 1.0 /pt-day and <= the AR2 reference's false alerts; SpO2: sensitivity >= 0.95, false
pages <= 0.2 /pt-day.

For tuning: `run(QualitySettings(operator=...))` measures any detector variant (an operator
factory: the detectors with their own settings object), and `sweep(...)` / `--sweep NAME`
(`SWEEPS`) a trade-off curve over one parameter.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from alerts.escalation import Policy
from bench._references import ar2_forecast, below
from bench._scoring import GLUCOSE, SPO2, Alerting, Rule, Tally, score
from replay import AnswerModel, Device, Episode, Reading, ReplaySettings, replay
from simulators._cgm_errors import ErrorModel
from simulators.quality_cohorts import (
    START,
    Patient,
    Physiology,
    cgm_from_truth,
    spo2_cohort,
    true_glucose,
)
from stream.operator import StreamOperator
from stream.rules import DEFAULT_RULES

OperatorFactory = Callable[[], StreamOperator]


@dataclass(frozen=True, slots=True)
class QualitySettings:
    patients: int = 30
    days: float = 3.0
    seeds: tuple[int, ...] = (1, 2, 3)
    models: tuple[ErrorModel, ...] = tuple(ErrorModel)
    physiologies: tuple[Physiology, ...] = tuple(Physiology)
    spo2: bool = True
    answers: AnswerModel = field(default_factory=AnswerModel)
    operator: OperatorFactory = StreamOperator  # the detectors under test, with their settings
    policy: Policy = field(default_factory=Policy)  # the escalation policy under test


# --- one cohort through every detector -----------------------------------------------------------


def _readings(patients: Sequence[Patient]) -> list[Reading]:
    epoch = START.timestamp()
    return [
        Reading(s.device_id, epoch + s.t_s, s.metric, s.value, s.true_value)
        for p in patients
        for s in p.samples
    ]


def vigil_alerting(
    patients: Sequence[Patient], episodes: Sequence[Episode], metric: str
) -> list[Alerting]:
    """Per patient: Vigil's prompts, pages and first contacts for alerts on `metric` going low."""
    epoch = START.timestamp()
    mine: dict[str, list[Episode]] = {p.patient_id: [] for p in patients}
    for e in episodes:
        if e.metric == metric and e.worse == "lower" and e.patient_id in mine:
            mine[e.patient_id].append(e)
    out = []
    for p in patients:
        prompts = sorted((t - epoch, e.rule_id) for e in mine[p.patient_id] for t in e.prompts)
        pages = sorted((e.paged_at - epoch, e.rule_id) for e in mine[p.patient_id]
                       if e.paged_at is not None)  # fmt: skip
        contacts = [
            min([*e.prompts, *([e.paged_at] if e.paged_at is not None else [])]) - epoch
            for e in mine[p.patient_id]
            if e.prompts or e.paged_at is not None
        ]
        out.append(Alerting(tuple(t for t, _ in prompts), tuple(t for t, _ in pages),
                            tuple(sorted(contacts)), tuple(r for _, r in prompts),
                            tuple(r for _, r in pages)))  # fmt: skip
    return out


def reference_alerting(
    patients: Sequence[Patient], detect: Callable[[list[float], list[float]], list[float]]
) -> list[Alerting]:
    out = []
    for p in patients:
        times, values = [s.t_s for s in p.samples], [s.value for s in p.samples]
        out.append(Alerting.reference(sorted(detect(times, values))))
    return out


def score_cohort(
    patients: Sequence[Patient], rule: Rule, metric: str, q: QualitySettings, seed: int
) -> dict[str, Tally]:
    devices = {p.samples[0].device_id: Device(p.patient_id, _kind(metric), _cadence(metric))
               for p in patients if p.samples}  # fmt: skip
    settings = ReplaySettings(seed=seed, answers=q.answers, operator=q.operator, policy=q.policy)
    episodes = replay(_readings(patients), settings, devices)
    truths = [p.true_per_min for p in patients]
    tallies = {"vigil": score(rule, truths, vigil_alerting(patients, episodes, metric))}
    for name, detect in _REFERENCES[metric].items():
        tallies[name] = score(rule, truths, reference_alerting(patients, detect))
    return tallies


_Detect = Callable[[list[float], list[float]], list[float]]
# metric -> reference detectors (AR2 is a glucose forecast: none for SpO2)
_REFERENCES: dict[str, dict[str, _Detect]] = {
    "glucose": {
        "single_reading": lambda t, v: below(t, v, 70.0) + below(t, v, 54.0),
        "ar2": lambda t, v: ar2_forecast(t, v, 70.0) + ar2_forecast(t, v, 54.0),
    },
    "spo2": {"single_reading": lambda t, v: below(t, v, 92.0, inclusive=True)},
}


def _kind(metric: str) -> str:
    return "cgm" if metric == "glucose" else "wearable"


def _cadence(metric: str) -> float:
    return 300.0 if metric == "glucose" else 60.0


# --- the runs ------------------------------------------------------------------------------------

Key = tuple[str, str, str, int]  # family, error model (or "-"), physiology (or "-"), seed


def run(
    q: QualitySettings, progress: Callable[[str], None] | None = None
) -> dict[Key, dict[str, Tally]]:
    """Tallies per (family, error model, physiology, seed) and detector."""
    out: dict[Key, dict[str, Tally]] = {}
    for seed in q.seeds:
        for phys in q.physiologies:
            truths = [true_glucose(phys, i, q.days, seed) for i in range(q.patients)]
            for model in q.models:
                t0 = time.perf_counter()
                patients = [cgm_from_truth(g, lag, phys, model, i, seed)
                            for i, (g, lag) in enumerate(truths)]  # fmt: skip
                out[("low_glucose", model.value, phys.value, seed)] = score_cohort(
                    patients, GLUCOSE, "glucose", q, seed
                )
                _say(progress, f"low_glucose {model.value}/{phys.value} seed {seed}", t0)
        if q.spo2:
            t0 = time.perf_counter()
            patients = spo2_cohort(q.patients, q.days, seed)
            out[("spo2_low", "-", "-", seed)] = score_cohort(patients, SPO2, "spo2", q, seed)
            _say(progress, f"spo2_low seed {seed}", t0)
    return out


def _say(progress: Callable[[str], None] | None, what: str, t0: float) -> None:
    if progress is not None:
        progress(f"  ran {what} in {time.perf_counter() - t0:.1f} s")


def pooled(results: dict[Key, dict[str, Tally]]) -> dict[tuple[str, str, int], dict[str, Tally]]:
    """Per (family, error model, seed): the physiologies pooled."""
    out: dict[tuple[str, str, int], dict[str, Tally]] = {}
    for (family, model, _phys, seed), tallies in results.items():
        into = out.setdefault((family, model, seed), {})
        for name, t in tallies.items():
            into.setdefault(name, Tally()).add(t)
    return out


def medians(results: dict[Key, dict[str, Tally]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per "family/error model" and detector: the median over seeds of each figure."""
    by: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for (family, model, _seed), tallies in sorted(pooled(results).items()):
        for name, t in tallies.items():
            by.setdefault(f"{family}/{model}", {}).setdefault(name, []).append(t.figures())
    return {
        group: {name: _median_figures(rows) for name, rows in detectors.items()}
        for group, detectors in by.items()
    }


def _median_figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out = {}
    for key in rows[0]:
        values = [r[key] for r in rows if r[key] is not None]
        out[key] = round(statistics.median(values), 3) if values else None
    return out


def false_by_rule(results: dict[Key, dict[str, Tally]]) -> dict[str, dict[str, int]]:
    """Per "family/error model": Vigil's false prompts and pages per rule, over all seeds (what
    to look at when tuning)."""
    out: dict[str, dict[str, int]] = {}
    for (family, model, _seed), tallies in sorted(pooled(results).items()):
        into = out.setdefault(f"{family}/{model}", {})
        for key, n in tallies["vigil"].false_by_rule.items():
            into[key] = into.get(key, 0) + n
    return {g: dict(sorted(c.items(), key=lambda kv: -kv[1])) for g, c in out.items()}


def targets(group: str, figures: dict[str, dict[str, Any]]) -> dict[str, bool | None]:
    """Issue 12's targets for Vigil in one group (None: not measurable, e.g. no episodes)."""
    v = figures["vigil"]

    def at_least(x: Any, limit: float) -> bool | None:
        return None if x is None else bool(x >= limit)

    def at_most(x: Any, limit: float | None) -> bool | None:
        return None if x is None or limit is None else bool(x <= limit)

    if group.startswith("spo2"):
        return {"sensitivity>=0.95": at_least(v["sensitivity"], 0.95),
                "false_pages<=0.2": at_most(v["false_pages_per_pt_day"], 0.2)}  # fmt: skip
    ar2 = figures.get("ar2", {}).get("false_prompts_per_pt_day")
    return {
        "level1_sensitivity>=0.95": at_least(v["sensitivity"], 0.95),
        "level2_sensitivity>=0.95": at_least(v["level2_sensitivity"], 0.95),
        "median_lead>=15min": at_least(v["median_lead_min"], 15.0),
        "false_pages<=0.10": at_most(v["false_pages_per_pt_day"], 0.10),
        "false_prompts<=1.0": at_most(v["false_prompts_per_pt_day"], 1.0),
        "false_prompts<=ar2": at_most(v["false_prompts_per_pt_day"], ar2),
    }


# --- the command ---------------------------------------------------------------------------------

_COLUMNS = ("sensitivity", "level2_sensitivity", "median_lead_min", "prompts_per_pt_day",
            "false_prompts_per_pt_day", "pages_per_pt_day", "false_pages_per_pt_day")  # fmt: skip
_HEAD = (
    "L1/desat sens | L2 sens | lead min | prompts/pd | false | pages/pd | false | episodes L1/L2"
)


def _row(label: str, name: str, f: dict[str, Any]) -> str:
    cells = " | ".join(f"{'-' if f[c] is None else f[c]:>8}" for c in _COLUMNS)
    return f"{label:34} {name:15} {cells} | {f['episodes']}/{f['level2_episodes']}"


def quality_figures(q: QualitySettings, out: Callable[[str], None] = print) -> dict[str, Any]:
    t0 = time.perf_counter()
    a = q.answers
    lo_min, hi_min = a.delay_s[0] / 60, a.delay_s[1] / 60
    out(f"patients {q.patients} per cohort, {q.days} days, seeds {list(q.seeds)}; {a.share:.0%}"
        f" of patients answer tier-1 glucose prompts with a meter re-check after {lo_min:.0f}-"
        f"{hi_min:.0f} min (ISO 15197: +-{a.iso_limit_mg_dl:.0f} mg/dL below"
        f" {a.iso_split_mg_dl:.0f}, +-{a.iso_limit_share:.0%} above), the others never; staff"
        " acknowledge pages after 10 min")  # fmt: skip
    results = run(q, out)
    out(f"{'':34} {'detector':15} {_HEAD}")
    for (family, model, phys, seed), tallies in sorted(results.items()):
        for name, t in tallies.items():
            out(_row(f"{family} {model}/{phys} seed {seed}", name, t.figures()))
    out("pooled over physiologies, per seed:")
    for (family, model, seed), tallies in sorted(pooled(results).items()):
        for name, t in tallies.items():
            out(_row(f"{family} {model} seed {seed}", name, t.figures()))
    med = medians(results)
    out("medians over seeds:")
    for group, detectors in med.items():
        for name, f in detectors.items():
            out(_row(group, name, f))
        out(f"{'':34} targets: {targets(group, detectors)}")
    for group, counts in false_by_rule(results).items():
        out(f"Vigil's false prompts and pages by rule, all seeds, {group}: {counts}")
    out(f"seconds: {time.perf_counter() - t0:.0f}")
    return {
        "settings": {"patients": q.patients, "days": q.days, "seeds": list(q.seeds),
                     "answer_share": a.share, "answer_delay_s": list(a.delay_s)},
        "medians": med,
        "targets": {group: targets(group, d) for group, d in med.items()},
        "per_seed": {f"{family}/{model}/{seed}": {n: t.figures() for n, t in tallies.items()}
                     for (family, model, seed), tallies in sorted(pooled(results).items())},
    }  # fmt: skip


# --- trade-off curves ----------------------------------------------------------------------------


def _forecast_horizon(minutes: float) -> OperatorFactory:
    forecasts = tuple(
        replace(f, horizon_s=minutes * 60.0) if f.id == "glucose.predicted_low" else f
        for f in DEFAULT_RULES.forecasts
    )
    rules = replace(DEFAULT_RULES, forecasts=forecasts, _by_metric={})
    return lambda: StreamOperator(rules)


# parameter name -> (value -> operator factory). Detector work adds its own knobs here.
SWEEPS: dict[str, Callable[[float], OperatorFactory]] = {
    "forecast_horizon_min": _forecast_horizon,
}


def sweep(
    factory: Callable[[float], OperatorFactory],
    values: Sequence[float],
    q: QualitySettings,
    out: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """The glucose medians per error model for each parameter value (a trade-off curve)."""
    q = replace(q, spo2=False)
    curve = []
    for value in values:
        med = medians(run(replace(q, operator=factory(value))))
        groups = {g: d["vigil"] for g, d in med.items()}
        curve.append({"value": value, "groups": groups})
        for group, f in groups.items():
            out(_row(f"{value:g} {group}", "vigil", f))
    return curve
