"""How values and times look on the workspace's pages: a reading at its clinical precision with
a readable unit, and an instant in the viewer's (and the patient's) time zone. Pure.

Precision is a table per metric (glucose 0 dp in mg/dL, 1 dp in mmol/L; blood pressure, SpO2 and
heart rate 0; weight and temperature 1). A metric not in the table is shown with 1 dp, never
unrounded.

Must not: translate words (api.web.i18n does) or read a clock (callers pass `now`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ingest.contract.units import MG_DL_PER_MMOL_L

MMOL_PER_MG_DL = 1 / MG_DL_PER_MMOL_L  # glucose, as the ingest converts it


@dataclass(frozen=True, slots=True)
class Shown:
    """How one metric is shown: the unit label and the decimals."""

    unit: str
    decimals: int
    scale: float = 1.0  # from the canonical unit to the shown one


SHOWN: dict[tuple[str, str], Shown] = {
    ("glucose", "mg/dL"): Shown("mg/dL", 0),
    ("glucose", "mmol/L"): Shown("mmol/L", 1, MMOL_PER_MG_DL),
    ("systolic_bp", "mm[Hg]"): Shown("mmHg", 0),
    ("diastolic_bp", "mm[Hg]"): Shown("mmHg", 0),
    ("spo2", "%"): Shown("%", 0),
    ("heart_rate", "/min"): Shown("/min", 0),
    ("respiratory_rate", "/min"): Shown("/min", 0),
    ("weight", "kg"): Shown("kg", 1),
    ("body_temperature", "Cel"): Shown("°C", 1),
    ("news2", "points"): Shown("", 0),
    ("", "s"): Shown("s", 0),
}
_UNIT_LABELS = {"mm[Hg]": "mmHg", "Cel": "°C", "points": "", "[lb_av]": "lb"}


def value(metric: str, unit: str, amount: float, glucose_unit: str = "mg/dL") -> str:
    """`amount` (in the metric's canonical `unit`) as text with its unit, e.g. "47 mg/dL"."""
    how = shown(metric, glucose_unit if metric == "glucose" else unit)
    number = f"{amount * how.scale:.{how.decimals}f}"
    return f"{number} {how.unit}".strip()


def shown(metric: str, unit: str) -> Shown:
    """How a metric in its canonical unit is shown: unit as a person writes it, decimals."""
    return SHOWN.get((metric, unit), Shown(_UNIT_LABELS.get(unit, unit), 1))


def zone(name: str | None) -> ZoneInfo:
    """A time zone by IANA name; UTC for a missing or unknown one."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def when(at: datetime | None, tz: str | None) -> str:
    """An instant as local date and time in `tz`, with the zone's abbreviation."""
    if at is None:
        return ""
    local = at.astimezone(zone(tz))
    return local.strftime("%Y-%m-%d %H:%M ") + (local.tzname() or "")


def when_both(at: datetime | None, viewer_tz: str | None, patient_tz: str | None) -> str:
    """The instant in the viewer's zone and, where the patient's clock differs, theirs too."""
    mine = when(at, viewer_tz)
    if at is None or patient_tz is None:
        return mine
    if at.astimezone(zone(viewer_tz)).utcoffset() == at.astimezone(zone(patient_tz)).utcoffset():
        return mine
    return f"{mine} ({when(at, patient_tz)})"


def duration(seconds: float) -> str:
    """A span as "3 h 05 min", "12 min" or "40 s": language-neutral units."""
    s = int(abs(seconds))
    if s >= 86400:
        return f"{s // 86400} d {s % 86400 // 3600} h"
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    if s >= 60:
        return f"{s // 60} min"
    return f"{s} s"
