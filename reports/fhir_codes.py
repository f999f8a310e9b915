"""The FHIR R4 code table: how each Vigil metric becomes an Observation (CONVENTIONS 5).

One frozen `ObservationSpec` per kind of Observation Vigil emits, keyed by a short `key` that is
also the first part of the Observation's id (`reports.fhir.observation_id`). Codes are LOINC,
units UCUM (the canonical units of the device contract, `ingest.contract.METRICS`). Glucose is one
metric in Vigil but two LOINC codes: a CGM measures interstitial fluid (99504-3), a meter
capillary blood (2339-0); the device's kind decides. Systolic and diastolic pressure measured
together (one device message) are one blood-pressure panel (85354-9) with two components.

Must not: hold I/O or mapping logic; a new metric is a new row here, nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"
VITAL_SIGNS = "vital-signs"
LABORATORY = "laboratory"
VITALS_PROFILE = "http://hl7.org/fhir/StructureDefinition/vitalsigns"
CGM_KINDS = frozenset({"cgm"})  # device kinds whose glucose is interstitial


@dataclass(frozen=True, slots=True)
class Code:
    code: str
    display: str

    def coding(self) -> dict[str, str]:
        return {"system": LOINC, "code": self.code, "display": self.display}


@dataclass(frozen=True, slots=True)
class ObservationSpec:
    """One kind of Observation: its id key, Vigil metric, LOINC codes (first is the primary),
    UCUM unit (the contract's canonical one) and category."""

    key: str
    metric: str
    codes: tuple[Code, ...]
    unit: str
    unit_display: str
    category: str = VITAL_SIGNS

    def __post_init__(self) -> None:
        if not self.key.isalnum() or not self.codes:
            raise ValueError(f"{self.metric}: a key of letters and digits and a code are needed")


BP_PANEL = Code("85354-9", "Blood pressure panel with all children optional")
SYSTOLIC = Code("8480-6", "Systolic blood pressure")
DIASTOLIC = Code("8462-4", "Diastolic blood pressure")
BP_KEY = "bp"
BP_COMPONENTS: Mapping[str, Code] = MappingProxyType(
    {"systolic_bp": SYSTOLIC, "diastolic_bp": DIASTOLIC}
)
BP_UNIT = ("mm[Hg]", "mmHg")

_SPECS = (
    ObservationSpec("hr", "heart_rate", (Code("8867-4", "Heart rate"),), "/min", "beats/minute"),
    ObservationSpec(
        "rr", "respiratory_rate", (Code("9279-1", "Respiratory rate"),), "/min", "breaths/minute"
    ),
    # 2708-6 is the code R4's oxygen saturation profile fixes; 59408-5 says it was by pulse
    # oximetry, which is what a home oximeter measures.
    ObservationSpec(
        "spo2",
        "spo2",
        (
            Code("2708-6", "Oxygen saturation in Arterial blood"),
            Code("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry"),
        ),
        "%",
        "%",
    ),
    ObservationSpec("wt", "weight", (Code("29463-7", "Body weight"),), "kg", "kg"),
    ObservationSpec(
        "temp", "body_temperature", (Code("8310-5", "Body temperature"),), "Cel", "Cel"
    ),
    ObservationSpec(
        "glu",
        "glucose",
        (Code("2339-0", "Glucose [Mass/volume] in Blood"),),
        "mg/dL",
        "mg/dL",
        LABORATORY,
    ),
    ObservationSpec(
        "cgm",
        "glucose",
        (Code("99504-3", "Glucose [Mass/volume] in Interstitial fluid"),),
        "mg/dL",
        "mg/dL",
        LABORATORY,
    ),
)
BY_KEY: Mapping[str, ObservationSpec] = MappingProxyType({s.key: s for s in _SPECS})
BY_METRIC: Mapping[str, ObservationSpec] = MappingProxyType(
    {s.metric: s for s in _SPECS if s.key != "cgm"}
)
CGM_GLUCOSE = BY_KEY["cgm"]


def spec_for(metric: str, device_kind: str | None) -> ObservationSpec:
    """The spec of a single-value metric (not blood pressure) measured by a device of a kind."""
    if metric == "glucose" and device_kind in CGM_KINDS:
        return CGM_GLUCOSE
    return BY_METRIC[metric]


@dataclass(frozen=True, slots=True)
class CodeFilter:
    """What a searched LOINC code selects: metrics, and for glucose whether from a CGM."""

    metrics: tuple[str, ...]
    cgm: bool | None = None


def _filters() -> dict[str, CodeFilter]:
    found: dict[str, CodeFilter] = {}
    for spec in _SPECS:
        cgm = None if spec.metric != "glucose" else spec.key == "cgm"
        for code in spec.codes:
            found[code.code] = CodeFilter((spec.metric,), cgm)
    bp = CodeFilter(tuple(BP_COMPONENTS))
    for code in (BP_PANEL, *BP_COMPONENTS.values()):
        found[code.code] = bp
    return found


CODE_FILTERS: Mapping[str, CodeFilter] = MappingProxyType(_filters())

# Posted Observations: LOINC code -> the contract metric(s) it carries (inbound mapping).
INBOUND: Mapping[str, str] = MappingProxyType(
    {
        **{c.code: s.metric for s in _SPECS for c in s.codes},
        SYSTOLIC.code: "systolic_bp",
        DIASTOLIC.code: "diastolic_bp",
    }
)
