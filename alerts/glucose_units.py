"""The glucose unit a patient reads, and glucose values written in it (tier-1 messages). Pure.

Everything past ingest holds glucose in mg/dL (DESIGN 3); a patient reads the unit of their own
meter. A patient whose meter shows 3.6 must not be told "below 70", so every glucose value and
threshold in a patient message is written in one unit, the patient's (`patient_unit`):

1. the unit set for the patient by a clinician (`patients.glucose_unit`), if any;
2. else the unit the patient's own glucose device reports: the original unit of their latest
   glucose reading (`readings.orig_unit`, kept as the device sent it);
3. else by the patient's language: mmol/L in Chinese (the unit of meters and guidance in
   China), mg/dL otherwise.

`shown` writes a canonical value in that unit: mmol/L with one decimal (mg/dL / 18.016, the
factor the ingest converts with), mg/dL as a whole number; a rate per minute likewise (mmol/L/min
with two decimals, so 2 and 3 mg/dL/min stay apart). A value in any other unit is written as
it is. Must not: read the database or a clock (the callers pass the patient's units in).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

from ingest.contract.units import MG_DL_PER_MMOL_L

MG_DL = "mg/dL"
MMOL_L = "mmol/L"
GLUCOSE_UNITS = (MG_DL, MMOL_L)
BY_LANG: Mapping[str, str] = MappingProxyType({"zh": MMOL_L, "en": MG_DL})
LEVEL1_LOW_MG_DL = 70.0  # 3.9 mmol/L: level-1 hypoglycaemia (ADA Standards of Care, 6)


class Shown(NamedTuple):
    unit: str
    scale: float  # from the canonical unit
    decimals: int


# (canonical unit, the patient's glucose unit) -> how a value is written
_SHOWN: Mapping[tuple[str, str], Shown] = MappingProxyType({
    (MG_DL, MG_DL): Shown(MG_DL, 1.0, 0),
    (MG_DL, MMOL_L): Shown(MMOL_L, 1 / MG_DL_PER_MMOL_L, 1),
    ("mg/dL/min", MG_DL): Shown("mg/dL/min", 1.0, 1),
    ("mg/dL/min", MMOL_L): Shown("mmol/L/min", 1 / MG_DL_PER_MMOL_L, 2),
})  # fmt: skip


def patient_unit(lang: str, device_unit: str | None = None, chosen: str | None = None) -> str:
    """The patient's glucose unit: `chosen` by a clinician, else `device_unit` (the original
    unit of the patient's latest glucose reading), else by `lang` (see the module docstring)."""
    for unit in (chosen, device_unit):
        if unit is not None and unit in GLUCOSE_UNITS:
            return unit
    return BY_LANG.get(lang, MG_DL)


def shown(value: float, unit: str, glucose_unit: str) -> tuple[str, str]:
    """(number, unit) of a glucose `value` in canonical `unit`, written in `glucose_unit`:
    e.g. (68.0, "mg/dL", "mmol/L") -> ("3.8", "mmol/L"). Other units pass through."""
    how = _SHOWN.get((unit, glucose_unit))
    if how is None:
        return f"{value:g}", unit
    return f"{value * how.scale:.{how.decimals}f}", how.unit
