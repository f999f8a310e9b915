"""What the roster page shows, from a team's roster: pure, so the words are tested without a
browser. Who is on call now per tier (by name; "nobody" is said, not left blank), this week's
days with the shifts that start on each (in the shift's own clock, its zone named when it is not
the viewer's), the weekly shifts one by one (what an admin removes), and the overrides not yet
ended in the viewer's zone.

Must not: read a clock or the database (callers pass the roster and `now`), or edit anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from api.web import format as fmt
from api.web.i18n import Catalog
from api.workspace.roster import TeamView


@dataclass(frozen=True, slots=True)
class OnCallLine:
    tier: int
    role: str
    primary: str  # names, or "" when nobody
    backup: str


@dataclass(frozen=True, slots=True)
class ShiftLine:
    id: int
    who: str
    role: str
    hours: str  # "08:00–20:00", with the zone when it differs from the viewer's


@dataclass(frozen=True, slots=True)
class Day:
    label: str
    date: str
    today: bool
    shifts: list[ShiftLine]


@dataclass(frozen=True, slots=True)
class ShiftRow:
    """One weekly shift as the list of shifts shows it (the unit an admin removes)."""

    id: int
    who: str
    role: str
    days: str  # "Mon, Wed, Fri"
    hours: str


@dataclass(frozen=True, slots=True)
class OverrideLine:
    id: int
    who: str
    role: str
    starts: str
    ends: str
    replaces: str
    reason: str


def _names(ids: list[str], names: dict[str, str]) -> str:
    return ", ".join(names.get(i, i) for i in ids)


def on_call(team: TeamView, names: dict[str, str], t: Catalog) -> list[OnCallLine]:
    return [OnCallLine(c.tier, t(f"role.{c.role}"), _names(c.primary, names),
                       _names(c.backup, names)) for c in team.roster.on_call]  # fmt: skip


def week(team: TeamView, names: dict[str, str], t: Catalog, tz: str, now: datetime) -> list[Day]:
    """Monday to Sunday of the viewer's current week, each with the shifts starting that day."""
    today = now.astimezone(fmt.zone(tz)).date()
    monday = today - timedelta(days=today.weekday())
    days = []
    for i in range(7):
        date = monday + timedelta(days=i)
        shifts = [
            ShiftLine(s.id, names.get(s.staff_id, s.staff_id), t(f"role.{s.role}"),
                      _hours(s.start_time.strftime("%H:%M"), s.end_time.strftime("%H:%M"),
                             s.tz, tz, t))
            for s in team.roster.shifts if i in s.weekdays
        ]  # fmt: skip
        days.append(Day(t(f"weekday.{i}"), date.strftime("%m-%d"), date == today, shifts))
    return days


def shifts(team: TeamView, names: dict[str, str], t: Catalog, tz: str) -> list[ShiftRow]:
    return [
        ShiftRow(s.id, names.get(s.staff_id, s.staff_id), t(f"role.{s.role}"),
                 ", ".join(t(f"weekday.{d}") for d in sorted(s.weekdays)),
                 _hours(s.start_time.strftime("%H:%M"), s.end_time.strftime("%H:%M"), s.tz, tz, t))
        for s in team.roster.shifts
    ]  # fmt: skip


def _hours(start: str, end: str, shift_tz: str, tz: str, t: Catalog) -> str:
    text = t("roster.all_day") if start == end else f"{start}–{end}"
    if end <= start and start != end:
        text += " " + t("roster.next_day")
    return text if fmt.zone(shift_tz).key == fmt.zone(tz).key else f"{text} ({shift_tz})"


def overrides(team: TeamView, names: dict[str, str], t: Catalog, tz: str) -> list[OverrideLine]:
    return [
        OverrideLine(o.id, names.get(o.staff_id, o.staff_id), t(f"role.{o.role}"),
                     fmt.when(o.starts_at, tz), fmt.when(o.ends_at, tz),
                     names.get(o.replaces, o.replaces) if o.replaces else "", o.reason)
        for o in team.roster.overrides
    ]  # fmt: skip
