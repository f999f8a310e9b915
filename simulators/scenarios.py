"""Scripted clinical episodes injected into the simulated cohort.

A scenario changes a patient's true values for a while and asks for extra measurements, the way
a real patient re-measures when the cuff shows something alarming. Times are offsets from the
start of the simulation, in simulated seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class Episode:
    patient_index: int
    start_s: float
    duration_s: float
    offsets: Mapping[str, float]  # metric -> added to the true value during the episode
    measure_at_s: tuple[float, ...]  # extra measurements (offsets from start of simulation)
    kind: str  # the device kind that takes the extra measurements

    def active(self, sim_start: datetime, t: datetime) -> bool:
        begin = sim_start + timedelta(seconds=self.start_s)
        return begin <= t < begin + timedelta(seconds=self.duration_s)


def hypertensive_crisis(patient_index: int = 0, start_s: float = 5.0) -> Episode:
    """SBP ~200 / DBP ~125 for an hour, above the crisis thresholds (> 180 / > 120) at any time
    of day and for any simulated baseline; the patient measures at once and re-measures after
    5 min (ACC/AHA: confirm a crisis value with a repeat measurement)."""
    return Episode(
        patient_index=patient_index,
        start_s=start_s,
        duration_s=3600.0,
        offsets=MappingProxyType({"systolic_bp": 80.0, "diastolic_bp": 50.0, "heart_rate": 12.0}),
        measure_at_s=(start_s, start_s + 300.0),
        kind="bp_cuff",
    )


SCENARIOS = MappingProxyType({"crisis": hypertensive_crisis})
