"""How faithfully each simulated patient follows the measurement plan: a table of personas.

Most patients measure almost every time the plan asks; some drift away over two weeks; some
stop for days and come back. Only the measurements a patient takes by hand follow a persona
(cuff, meter, scale); a CGM and a wearable transmit on their own. Days count from the start of
the simulation (negative: the history sent before the live run, `history_days`).

Deterministic: whether a measurement is taken depends on (persona, patient, device, time) only,
hashed, so a re-run, the history and the live run agree.

Must not: know the plan's rows (the device cadences match the plan templates' times per day).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum

BY_HAND = frozenset({"bp_cuff", "glucometer", "scale"})


class Persona(StrEnum):
    STEADY = "steady"
    DRIFTING = "drifting"
    PAUSED = "paused"


@dataclass(frozen=True, slots=True)
class Adherence:
    persona: Persona
    start: float  # probability of taking a planned measurement at day `drift_from`
    end: float  # ... at day `drift_to` and after
    drift_from: float
    drift_to: float
    pause: tuple[float, float] = (0.0, 0.0)  # days [from, to) with no measurement at all

    def probability(self, day: float) -> float:
        if self.pause[0] <= day < self.pause[1]:
            return 0.0
        if day <= self.drift_from:
            return self.start
        if day >= self.drift_to:
            return self.end
        share = (day - self.drift_from) / (self.drift_to - self.drift_from)
        return self.start + (self.end - self.start) * share


STEADY = Adherence(Persona.STEADY, 0.95, 0.95, 0.0, 1.0)
# From 95 % two weeks ago down to 25 % now and after.
DRIFTING = Adherence(Persona.DRIFTING, 0.95, 0.25, -14.0, 0.0)
# Stopped four days ago (beyond the 3-day grace: "stopped measuring"), back after a day of run.
PAUSED = Adherence(Persona.PAUSED, 0.95, 0.95, 0.0, 1.0, pause=(-4.0, 1.0))

# patient index % 10 -> persona: 7 steady, 2 drifting, 1 paused (patient 0 steady: the crisis).
_BY_DECILE = (STEADY, STEADY, STEADY, STEADY, STEADY, STEADY, DRIFTING, DRIFTING, PAUSED, STEADY)


def adherence_of(patient_index: int) -> Adherence:
    return _BY_DECILE[patient_index % len(_BY_DECILE)]


def takes(patient_index: int, device_id: str, kind: str, day: float) -> bool:
    """Whether the patient takes the planned measurement of `device_id` at `day`."""
    if kind not in BY_HAND:
        return True
    draw = hashlib.blake2b(f"{device_id}|{day:.4f}".encode(), digest_size=4).digest()
    return int.from_bytes(draw, "big") / 2**32 < adherence_of(patient_index).probability(day)
