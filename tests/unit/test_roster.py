"""Who is on call: weekly shifts in local time (night shifts, time zones, DST), overrides, backups."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from alerts.escalation import Tier
from alerts.roster import OnCall, Override, Role, Shift, TeamRoster, on_call

WEEKDAYS = frozenset(range(5))
EVERY_DAY = frozenset(range(7))
# Shanghai is UTC+8 all year; London is UTC+0 in winter and UTC+1 from 29 March 2026.
DAY_NURSE = Shift("n-day", Role.NURSE, "Asia/Shanghai", WEEKDAYS, time(8), time(18))
NIGHT_NURSE = Shift("n-night", Role.NURSE, "Asia/Shanghai", EVERY_DAY, time(18), time(8))
LONDON_DOCTOR = Shift("d-lon", Role.DOCTOR, "Europe/London", WEEKDAYS, time(9), time(17))
ROSTER = TeamRoster(
    "team-a",
    shifts=(DAY_NURSE, NIGHT_NURSE, LONDON_DOCTOR),
    backups={Role.NURSE: ("n-lead", "n-day"), Role.DOCTOR: ("d-backup",)},
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("at", "tier", "primary"),
    [
        (utc(2026, 11, 23, 2, 0), Tier.NURSE, ("n-day",)),  # Mon 10:00 in Shanghai
        (utc(2026, 11, 23, 10, 0), Tier.NURSE, ("n-night",)),  # Mon 18:00: the night shift
        (utc(2026, 11, 23, 23, 59), Tier.NURSE, ("n-night",)),  # Tue 07:59, begun on Monday
        (utc(2026, 11, 28, 2, 0), Tier.NURSE, ()),  # Sat 10:00: no day shift, night shift over
        (utc(2026, 11, 23, 9, 30), Tier.DOCTOR, ("d-lon",)),  # Mon 09:30 London (GMT)
        (utc(2026, 3, 30, 8, 30), Tier.DOCTOR, ("d-lon",)),  # Mon 09:30 London (BST)
        (utc(2026, 3, 30, 16, 30), Tier.DOCTOR, ()),  # Mon 17:30 BST: the shift has ended
    ],
)
def test_shifts_are_read_in_their_own_time_zone(
    at: datetime, tier: Tier, primary: tuple[str, ...]
) -> None:
    assert on_call(ROSTER, tier, at).primary == primary


def test_an_override_stands_in_for_a_scheduled_nurse() -> None:
    sick = Override("n-cover", Role.NURSE, utc(2026, 11, 23, 0), utc(2026, 11, 24, 0), "n-day")
    roster = TeamRoster("team-a", ROSTER.shifts, (sick,), ROSTER.backups)
    assert on_call(roster, Tier.NURSE, utc(2026, 11, 23, 2)).primary == ("n-cover",)
    assert on_call(roster, Tier.NURSE, utc(2026, 11, 24, 2)).primary == ("n-day",)  # expired


def test_an_extra_doctor_adds_to_the_schedule() -> None:
    extra = Override("d-extra", Role.DOCTOR, utc(2026, 11, 23, 9), utc(2026, 11, 23, 12))
    roster = TeamRoster("team-a", ROSTER.shifts, (extra,), ROSTER.backups)
    assert on_call(roster, Tier.DOCTOR, utc(2026, 11, 23, 10)).primary == ("d-lon", "d-extra")


def test_backups_exclude_whoever_is_already_on_call() -> None:
    assert on_call(ROSTER, Tier.NURSE, utc(2026, 11, 23, 2)) == OnCall(("n-day",), ("n-lead",))
    assert on_call(ROSTER, Tier.NURSE, utc(2026, 11, 28, 2)) == OnCall((), ("n-lead", "n-day"))


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        on_call(ROSTER, Tier.NURSE, datetime(2026, 11, 23, 2))  # noqa: DTZ001
    with pytest.raises(ValueError, match="tz-aware"):
        Override("x", Role.NURSE, datetime(2026, 1, 1), utc(2026, 1, 2))  # noqa: DTZ001
