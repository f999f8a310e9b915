"""Metrics, their canonical units, accepted unit spellings and plausibility bounds.

A declarative table (CONVENTIONS 5): one `MetricSpec` per metric. Unit spellings are UCUM codes
(what v1 payloads carry) plus the SenML registry names (RFC 8428 section 12.1) where they differ.
Every conversion into the canonical unit is affine, `canonical = value * scale + offset`, so a
unit is one `Affine` and the decoder needs no function call per reading. Plausibility bounds are in
the canonical unit and deliberately wide: they catch device and unit errors (SBP 400, glucose in
mmol/L labelled mg/dL), not clinical extremes, which must pass through to the detectors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import NamedTuple

# 1 mmol/L of glucose (molar mass 180.16 g/mol) is 18.016 mg/dL (DESIGN 3).
MG_DL_PER_MMOL_L = 18.016
KG_PER_LB = 0.45359237
MMHG_PER_KPA = 7.500617


class Affine(NamedTuple):
    scale: float
    offset: float = 0.0

    def __call__(self, value: float) -> float:
        return value * self.scale + self.offset


SAME = Affine(1.0)
_BP = MappingProxyType({"mm[Hg]": SAME, "mmHg": SAME, "kPa": Affine(MMHG_PER_KPA)})
_PER_MIN = MappingProxyType(
    {u: SAME for u in ("/min", "1/min", "{beats}/min", "{breaths}/min", "beat/min", "beats/min")}
)
_FAHRENHEIT = Affine(5.0 / 9.0, -32.0 * 5.0 / 9.0)


@dataclass(frozen=True, slots=True)
class MetricSpec:
    metric: str
    canonical_unit: str
    units: Mapping[str, Affine]  # accepted spelling -> conversion into the canonical unit
    plausible_min: float
    plausible_max: float

    def __post_init__(self) -> None:
        if self.plausible_min >= self.plausible_max:
            raise ValueError(f"{self.metric}: empty plausibility range")
        if self.units.get(self.canonical_unit) != SAME:
            raise ValueError(f"{self.metric}: the canonical unit must convert to itself")


METRICS: Mapping[str, MetricSpec] = MappingProxyType(
    {
        spec.metric: spec
        for spec in (
            MetricSpec("systolic_bp", "mm[Hg]", _BP, 40.0, 300.0),
            MetricSpec("diastolic_bp", "mm[Hg]", _BP, 20.0, 200.0),
            MetricSpec("heart_rate", "/min", _PER_MIN, 20.0, 300.0),
            MetricSpec("respiratory_rate", "/min", _PER_MIN, 3.0, 80.0),
            MetricSpec("spo2", "%", {"%": SAME, "/": Affine(100.0)}, 50.0, 100.0),
            MetricSpec(
                "glucose",
                "mg/dL",
                {"mg/dL": SAME, "mmol/L": Affine(MG_DL_PER_MMOL_L)},
                10.0,
                1000.0,
            ),
            MetricSpec(
                "weight",
                "kg",
                {
                    "kg": SAME,
                    "[lb_av]": Affine(KG_PER_LB),
                    "lb": Affine(KG_PER_LB),
                    "g": Affine(0.001),
                },
                2.0,
                400.0,
            ),
            MetricSpec(
                "body_temperature",
                "Cel",
                {"Cel": SAME, "[degF]": _FAHRENHEIT, "degF": _FAHRENHEIT},
                25.0,
                45.0,
            ),
        )
    }
)


class UnitEntry(NamedTuple):
    """Everything the decoder needs for one (metric, unit) pair, found with two dict lookups."""

    scale: float
    offset: float
    canonical_unit: str
    plausible_min: float
    plausible_max: float


def unit_table() -> dict[str, dict[str, UnitEntry]]:
    """metric -> unit spelling -> entry: the decoder's flattened view of `METRICS`."""
    return {
        spec.metric: {
            unit: UnitEntry(
                a.scale, a.offset, spec.canonical_unit, spec.plausible_min, spec.plausible_max
            )
            for unit, a in spec.units.items()
        }
        for spec in METRICS.values()
    }
