"""Seeded cohorts with ground truth, for measuring detection quality (`vigil bench quality`).

Each `Case` is one patient: the device messages as the ingest would hand them on (in arrival
order), and the truth from the underlying physiology before any device noise: when the patient
was truly abnormal, and the episodes a detector should catch. Three cohorts:

- CGM: `simulators.glucose` (meals, insulin errors, exercise, sensor lag, noise, compression
  artefacts); abnormal while true glucose < 70 mg/dL, episodes are runs of >= 15 min.
- BP: twice-daily home readings, a third of the patients running high (true SBP 160-172), half
  with one hypertensive crisis of 1-3 h (+50-70 / +30-45 mmHg), during which 70 % measure
  because of symptoms. A reading in the crisis range is repeated 3-8 min later by 80 % of
  patients (as the re-measure prompt asks). Abnormal while true SBP > 180 or DBP > 120.
- SpO2: a wearable every minute; half the patients desaturate once (30 min down to 86-91 %,
  1-4 h there, 30 min back); 0.3 % of readings carry a motion artefact (4-9 points low).
  Abnormal while true SpO2 <= 92 %, episodes of >= 15 min.

Pure and seeded: the same (n, days, seed) gives the same cohort. The models are plausible, not
validated: figures measured on them compare detectors, they are not clinical performance.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from ingest.bound import BoundMessage
from ingest.contract import METRICS, DeviceMessage, Measurement
from simulators import glucose, physiology

START = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)  # a Monday, midnight UTC
DAY_S = 86_400.0
MIN_EPISODE_S = 900.0
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Truth:
    grid_s: npt.NDArray[np.float64]  # seconds since START, ascending
    abnormal: BoolArray  # truly abnormal at each grid time
    episodes: tuple[tuple[float, float], ...]  # (start_s, end_s) a detector should catch

    def abnormal_between(self, lo_s: float, hi_s: float) -> bool:
        i = int(np.searchsorted(self.grid_s, lo_s, side="left"))
        j = int(np.searchsorted(self.grid_s, hi_s, side="right"))
        return bool(self.abnormal[i:j].any())


@dataclass(frozen=True, slots=True)
class Case:
    patient_id: str
    messages: tuple[BoundMessage, ...]  # in arrival order
    truth: Truth


def message(patient_id: str, device_id: str, kind: str, cadence_s: float, seq: int, t_s: float,
            delay_s: float, values: dict[str, float]) -> BoundMessage:  # fmt: skip
    """A validated, normalised message as the ingest hands it on (canonical units)."""
    measured = START + timedelta(seconds=t_s)
    ms = tuple(
        Measurement(m, v, METRICS[m].canonical_unit, v, METRICS[m].canonical_unit)
        for m, v in values.items()
    )
    dm = DeviceMessage(device_id, seq, measured, measured + timedelta(seconds=delay_s), ms)
    return BoundMessage(patient_id, dm, kind, cadence_s)


def runs(grid_s: npt.NDArray[np.float64], abnormal: BoolArray,
         min_s: float) -> tuple[tuple[float, float], ...]:  # fmt: skip
    """Runs of `abnormal` lasting at least `min_s`: (first abnormal time, first normal time; for
    a run still going at the end of the grid, one step past its last sample)."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], abnormal.astype(np.int8), [0]))))
    step = float(grid_s[1] - grid_s[0]) if len(grid_s) > 1 else 0.0
    out = []
    for first, back in zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True):
        end = float(grid_s[back]) if back < len(grid_s) else float(grid_s[-1]) + step
        if end - float(grid_s[first]) >= min_s:
            out.append((float(grid_s[first]), end))
    return tuple(out)


def _arrival(msgs: list[BoundMessage]) -> tuple[BoundMessage, ...]:
    return tuple(sorted(msgs, key=lambda b: (b.message.received_at, b.message.seq)))


def cgm_case(i: int, days: float, seed: int) -> Case:
    trace = glucose.simulate(glucose.profile_for(i, seed), START, days, 300.0, seed)
    rng, pid = random.Random(f"cgm-delay:{seed}:{i}"), f"q-cgm-{i:03d}"
    samples = zip(trace.times_s.tolist(), trace.sensor_mg_dl.tolist(), strict=True)
    msgs = [
        message(pid, f"{pid}-cgm", "cgm", 300.0, k, t, rng.uniform(5.0, 60.0), {"glucose": v})
        for k, (t, v) in enumerate(samples)
        if not math.isnan(v)  # a dropped sample sends nothing
    ]
    episodes = tuple((e.start_s, e.end_s) for e in glucose.hypo_episodes(trace, 70.0))
    return Case(pid, _arrival(msgs), Truth(trace.times_s, trace.true_mg_dl < 70.0, episodes))


def bp_case(i: int, days: float, seed: int) -> Case:
    rng, pid = random.Random(f"bp:{seed}:{i}"), f"q-bp-{i:03d}"
    b = physiology.baseline_for(i, seed)
    shift = rng.uniform(160.0, 172.0) - b.systolic_bp if i % 3 == 1 else 0.0
    crisis = (0.0, 0.0)
    if i % 2 == 0:
        at = rng.uniform(0.1, days - 0.2) * DAY_S
        crisis = (at, at + rng.uniform(1.0, 3.0) * 3600.0)
    offset = {"systolic_bp": shift, "diastolic_bp": 0.6 * shift, "heart_rate": 0.0}
    surge = {"systolic_bp": rng.uniform(50.0, 70.0), "diastolic_bp": rng.uniform(30.0, 45.0),
             "heart_rate": 10.0}  # fmt: skip

    def true(metric: str, t_s: float) -> float:
        v = physiology.true_value(b, metric, START + timedelta(seconds=t_s)) + offset[metric]
        return v + surge[metric] if crisis[0] <= t_s < crisis[1] else v

    times = [d * DAY_S + h * 3600.0 + rng.uniform(-1800.0, 1800.0)
             for d in range(math.ceil(days)) for h in (8.0, 20.0)]  # fmt: skip
    if crisis[1] and rng.random() < 0.7:
        times.append(crisis[0] + rng.uniform(300.0, 2400.0))  # symptoms: measured now
    msgs, seq = [], 0
    for t in sorted(x for x in times if 0 <= x < days * DAY_S):
        for _attempt in range(2):
            v = {m: physiology.measure(m, true(m, t), rng) for m in offset}
            msgs.append(message(pid, f"{pid}-bp", "bp_cuff", 43_200.0, seq, t, 20.0, v))
            seq += 1
            if not (v["systolic_bp"] > 180 or v["diastolic_bp"] > 120) or rng.random() > 0.8:
                break
            t += rng.uniform(180.0, 480.0)  # re-measure, as the prompt asks
    grid = np.arange(0.0, days * DAY_S, 60.0)
    abnormal = np.array([true("systolic_bp", t) > 180 or true("diastolic_bp", t) > 120
                         for t in grid.tolist()])  # fmt: skip
    return Case(pid, _arrival(msgs), Truth(grid, abnormal, runs(grid, abnormal, 0.0)))


def spo2_case(i: int, days: float, seed: int) -> Case:
    rng, pid = random.Random(f"spo2:{seed}:{i}"), f"q-spo2-{i:03d}"
    b = physiology.baseline_for(i, seed)
    grid = np.arange(0.0, days * DAY_S, 60.0)
    true_spo2 = np.full(len(grid), b.spo2)
    if i % 2 == 0:
        at, nadir = rng.uniform(0.1, days - 0.3) * DAY_S, rng.uniform(86.0, 91.0)
        hold = rng.uniform(1.0, 4.0) * 3600.0
        x = grid - at
        depth = np.clip(np.minimum(x / 1800.0, (hold + 3600.0 - x) / 1800.0), 0.0, 1.0)
        true_spo2 -= depth * (b.spo2 - nadir)
    msgs = []
    for k, (t, s) in enumerate(zip(grid.tolist(), true_spo2.tolist(), strict=True)):
        artefact = rng.uniform(4.0, 9.0) if rng.random() < 0.003 else 0.0
        reading = min(100.0, round(s + rng.gauss(0.0, 1.0) - artefact))
        true_hr = physiology.true_value(b, "heart_rate", START + timedelta(seconds=t))
        hr = physiology.measure("heart_rate", true_hr, rng)
        msgs.append(message(pid, f"{pid}-wr", "wearable", 60.0, k, t, rng.uniform(2.0, 20.0),
                            {"spo2": reading, "heart_rate": round(hr)}))  # fmt: skip
    abnormal = true_spo2 <= 92.0
    return Case(pid, _arrival(msgs), Truth(grid, abnormal, runs(grid, abnormal, MIN_EPISODE_S)))


COHORTS: dict[str, Callable[[int, float, int], Case]] = {
    "low_glucose": cgm_case,
    "bp_crisis": bp_case,
    "spo2_low": spo2_case,
}


def cohort(family: str, n: int, days: float, seed: int) -> Sequence[Case]:
    return [COHORTS[family](i, days, seed) for i in range(n)]
