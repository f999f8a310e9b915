"""Who is on call now, per care team and tier (DESIGN 5). Pure: the caller passes the instant.

A team's roster is weekly shifts in the staff member's own time zone (a night shift may run past
midnight; daylight-saving changes are the zone's business, via `zoneinfo`), one-off overrides
that add someone for a stretch of time and may stand in for a scheduled person (sick leave,
swaps), and a backup list per role. `on_call(roster, team, tier, at)` answers with the people to
notify at that tier and the backups; an empty `primary` is what the escalation machine's
`NobodyOnCall` is for.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from alerts.escalation import Tier


class Role(enum.StrEnum):
    NURSE = "nurse"
    DOCTOR = "doctor"


ROLE_FOR_TIER = {Tier.NURSE: Role.NURSE, Tier.DOCTOR: Role.DOCTOR}


@dataclass(frozen=True, slots=True)
class Shift:
    staff_id: str
    role: Role
    tz: str  # IANA zone of the shift's clock times, e.g. "Asia/Shanghai"
    weekdays: frozenset[int]  # days the shift starts on, Monday = 0
    start: time
    end: time  # at or before `start`: the shift ends the next day

    def covers(self, at: datetime) -> bool:
        local = at.astimezone(ZoneInfo(self.tz))
        clock = local.time().replace(tzinfo=None)
        if self.start < self.end:
            return local.weekday() in self.weekdays and self.start <= clock < self.end
        started_today = local.weekday() in self.weekdays and clock >= self.start
        started_yesterday = (local - timedelta(days=1)).weekday() in self.weekdays
        return started_today or (started_yesterday and clock < self.end)


@dataclass(frozen=True, slots=True)
class Override:
    staff_id: str
    role: Role
    start: datetime  # tz-aware
    end: datetime
    replaces: str | None = None  # a scheduled staff member this one stands in for

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None or self.end <= self.start:
            raise ValueError("an override needs tz-aware start < end")

    def covers(self, at: datetime) -> bool:
        return self.start <= at < self.end


@dataclass(frozen=True, slots=True)
class TeamRoster:
    team_id: str
    shifts: tuple[Shift, ...] = ()
    overrides: tuple[Override, ...] = ()
    backups: dict[Role, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OnCall:
    primary: tuple[str, ...]  # notify these
    backup: tuple[str, ...]  # and these when nobody above answers (or there is nobody)


def on_call(roster: TeamRoster, tier: Tier, at: datetime) -> OnCall:
    """The team's people on call for `tier` at `at` (tz-aware), each listed once, in roster
    order; the backups exclude anyone already primary."""
    if at.tzinfo is None:
        raise ValueError("`at` must be timezone-aware")
    role = ROLE_FOR_TIER[tier]
    overrides = [o for o in roster.overrides if o.role is role and o.covers(at)]
    replaced = {o.replaces for o in overrides if o.replaces is not None}
    scheduled = [s.staff_id for s in roster.shifts
                 if s.role is role and s.staff_id not in replaced and s.covers(at)]  # fmt: skip
    primary = _unique([*scheduled, *(o.staff_id for o in overrides)])
    backup = tuple(b for b in _unique(roster.backups.get(role, ())) if b not in primary)
    return OnCall(primary, backup)


def _unique(ids: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(ids))
