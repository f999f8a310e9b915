"""Device profiles: what each kind of home device measures, how often and in which units.

A declarative table (CONVENTIONS 5). Cadences are the realistic defaults of home RPM kits: a
cuff twice a day, a meter before meals, a CGM every 5 minutes, a wearable every minute, a scale
each morning. `DeviceProfile.unit_choices` lets some devices report in the other common unit
(mmol/L meters, lb scales) so the ingest's normalisation is exercised all the time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType


class Kind(StrEnum):
    BP_CUFF = "bp_cuff"
    GLUCOMETER = "glucometer"
    CGM = "cgm"
    WEARABLE = "wearable"
    SCALE = "scale"


@dataclass(frozen=True, slots=True)
class DeviceProfile:
    kind: Kind
    suffix: str  # device id = f"{patient_id}-{suffix}"
    cadence_s: float
    jitter_s: float  # measurement times vary by up to this much
    metrics: tuple[str, ...]
    unit_choices: Mapping[str, tuple[str, ...]]  # metric -> units a device may report in

    def __post_init__(self) -> None:
        if self.cadence_s <= 0 or not 0 <= self.jitter_s < self.cadence_s:
            raise ValueError(f"{self.kind}: cadence must be positive and exceed the jitter")
        if set(self.unit_choices) != set(self.metrics):
            raise ValueError(f"{self.kind}: every metric needs its unit choices")


PROFILES: Mapping[Kind, DeviceProfile] = MappingProxyType(
    {
        p.kind: p
        for p in (
            DeviceProfile(
                Kind.BP_CUFF, "bp", 12 * 3600.0, 1800.0,
                ("systolic_bp", "diastolic_bp", "heart_rate"),
                {"systolic_bp": ("mm[Hg]",), "diastolic_bp": ("mm[Hg]",), "heart_rate": ("/min",)},
            ),
            DeviceProfile(
                Kind.GLUCOMETER, "glu", 6 * 3600.0, 1800.0, ("glucose",),
                {"glucose": ("mg/dL", "mmol/L")},
            ),
            DeviceProfile(Kind.CGM, "cgm", 300.0, 5.0, ("glucose",), {"glucose": ("mg/dL",)}),
            DeviceProfile(
                Kind.WEARABLE, "wr", 60.0, 2.0, ("heart_rate", "spo2"),
                {"heart_rate": ("/min",), "spo2": ("%",)},
            ),
            DeviceProfile(
                Kind.SCALE, "sc", 24 * 3600.0, 3600.0, ("weight",), {"weight": ("kg", "[lb_av]")},
            ),
        )
    }
)  # fmt: skip
