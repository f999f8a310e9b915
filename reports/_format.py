"""How the report writes numbers, times and durations (template filters). Pure.

Must not: translate (the catalog does) or compute figures.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from reports._clock import day_date
from reports.i18n import Catalog

DASH = "—"


def num(x: float | None, digits: int = 0) -> str:
    return DASH if x is None else f"{x:.{digits}f}"


def pct(x: float | None, digits: int = 0) -> str:
    """`x` already in percent."""
    return DASH if x is None else f"{x:.{digits}f} %"


def share(x: float | None, digits: int = 1) -> str:
    """`x` a share 0..1, written in percent."""
    return DASH if x is None else f"{100 * x:.{digits}f} %"


def when(at: datetime | None, tz: ZoneInfo) -> str:
    return DASH if at is None else at.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def day(n: int) -> str:
    return day_date(n).isoformat()


def duration(seconds: float | None, t: Catalog) -> str:
    if seconds is None:
        return DASH
    if seconds < 3600:
        return t("unit.minutes", n=f"{seconds / 60:.0f}")
    if seconds < 2 * 86_400:
        return t("unit.hours", n=f"{seconds / 3600:.1f}")
    return t("unit.days", n=f"{seconds / 86_400:.1f}")
