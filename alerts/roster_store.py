"""PostgreSQL adapter of the rosters: a care team's shifts, current overrides and backups as an
`alerts.roster.TeamRoster`, and who to page for a patient at a tier.

Read inside the caller's transaction, so a page and the alert transition that caused it see the
same roster. Tier 3 goes to the patient's responsible doctor first, when one is set; the team's
on-call doctors are then the backups (DESIGN 5: "the on-call doctor as backup").
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from psycopg import AsyncConnection

from alerts.escalation import Tier
from alerts.roster import OnCall, Override, Role, Shift, TeamRoster, on_call


async def load_roster(conn: AsyncConnection[Any], team_id: str, at: datetime) -> TeamRoster:
    """The team's roster with the overrides in force at `at`."""
    cur = await conn.execute(
        "SELECT staff_id, role, tz, weekdays, start_time, end_time FROM roster_shifts"
        " WHERE team_id = %s ORDER BY id",
        (team_id,),
    )
    shifts = tuple(
        Shift(staff, Role(role), tz, frozenset(days), start, end)
        for staff, role, tz, days, start, end in await cur.fetchall()
    )
    cur = await conn.execute(
        "SELECT staff_id, role, starts_at, ends_at, replaces FROM roster_overrides"
        " WHERE team_id = %s AND starts_at <= %s AND ends_at > %s ORDER BY id",
        (team_id, at, at),
    )
    overrides = tuple(
        Override(staff, Role(role), start, end, replaces)
        for staff, role, start, end, replaces in await cur.fetchall()
    )
    cur = await conn.execute(
        "SELECT role, staff_id FROM roster_backups WHERE team_id = %s ORDER BY role, position",
        (team_id,),
    )
    backups: dict[Role, list[str]] = {}
    for role, staff in await cur.fetchall():
        backups.setdefault(Role(role), []).append(staff)
    return TeamRoster(team_id, shifts, overrides, {r: tuple(s) for r, s in backups.items()})


_PAGING = """
SELECT p.team_id, p.responsible_doctor,
       (SELECT COALESCE(json_agg(json_build_array(staff_id, role, tz, weekdays, start_time,
                                                  end_time) ORDER BY id), '[]')
          FROM roster_shifts WHERE team_id = p.team_id),
       (SELECT COALESCE(json_agg(json_build_array(staff_id, role, starts_at, ends_at, replaces)
                                 ORDER BY id), '[]')
          FROM roster_overrides
         WHERE team_id = p.team_id AND starts_at <= %(at)s AND ends_at > %(at)s),
       (SELECT COALESCE(json_agg(json_build_array(role, staff_id) ORDER BY role, position), '[]')
          FROM roster_backups WHERE team_id = p.team_id)
  FROM patients p WHERE p.id = %(patient)s
"""


async def who_to_page(
    conn: AsyncConnection[Any], patient_id: str, tier: Tier, at: datetime
) -> OnCall:
    """Who to notify at `tier` for the patient now: one round trip (this is on the alert
    writer's path, inside its transaction)."""
    cur = await conn.execute(_PAGING, {"patient": patient_id, "at": at})
    row = await cur.fetchone()
    if row is None:
        return OnCall((), ())
    team_id, doctor, shifts, overrides, backups = row
    return paging(_roster(team_id, shifts, overrides, backups), doctor, tier, at)


PAGING_MANY = """
SELECT p.id, p.team_id, p.responsible_doctor,
       (SELECT COALESCE(json_agg(json_build_array(staff_id, role, tz, weekdays, start_time,
                                                  end_time) ORDER BY id), '[]')
          FROM roster_shifts WHERE team_id = p.team_id),
       (SELECT COALESCE(json_agg(json_build_array(staff_id, role, starts_at, ends_at, replaces)
                                 ORDER BY id), '[]')
          FROM roster_overrides WHERE team_id = p.team_id AND ends_at > %(since)s),
       (SELECT COALESCE(json_agg(json_build_array(role, staff_id) ORDER BY role, position), '[]')
          FROM roster_backups WHERE team_id = p.team_id)
  FROM patients p WHERE p.id = ANY(%(patients)s)
"""
"""`_PAGING` for many patients, with every override ending after `since` (`on_call` keeps those
in force when it pages): the batched alert writer (alerts._batch) reads it once per batch."""


def paging_for(row: tuple[Any, ...], tier: Tier, at: datetime) -> OnCall:
    """Who to notify, from a row of `PAGING_MANY` without its patient id (overrides are
    filtered by `at` here)."""
    team_id, doctor, shifts, overrides, backups = row
    return paging(_roster(team_id, shifts, overrides, backups), doctor, tier, at)


def paging(roster: TeamRoster, doctor: str | None, tier: Tier, at: datetime) -> OnCall:
    rota = on_call(roster, tier, at)
    if tier is not Tier.DOCTOR or doctor is None:
        return rota
    backup = tuple(s for s in (*rota.primary, *rota.backup) if s != doctor)
    return OnCall((doctor,), backup)


def _roster(team_id: str, shifts: Any, overrides: Any, backups: Any) -> TeamRoster:
    """A TeamRoster from the JSON arrays of `_PAGING` (times as ISO strings)."""
    by_role: dict[Role, list[str]] = {}
    for role, staff in backups:
        by_role.setdefault(Role(role), []).append(staff)
    return TeamRoster(
        team_id,
        tuple(Shift(staff, Role(role), tz, frozenset(days), time.fromisoformat(start),
                    time.fromisoformat(end)) for staff, role, tz, days, start, end in shifts),
        tuple(Override(staff, Role(role), datetime.fromisoformat(start),
                       datetime.fromisoformat(end), replaces)
              for staff, role, start, end, replaces in overrides),
        {r: tuple(s) for r, s in by_role.items()},
    )  # fmt: skip


async def replace_roster(conn: AsyncConnection[Any], roster: TeamRoster) -> None:
    """Make the team's weekly shifts and backups exactly `roster`'s (overrides are kept: they
    are one-off cover, managed one by one)."""
    team = roster.team_id
    await conn.execute("DELETE FROM roster_shifts WHERE team_id = %s", (team,))
    await conn.execute("DELETE FROM roster_backups WHERE team_id = %s", (team,))
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO roster_shifts (team_id, staff_id, role, tz, weekdays, start_time,"
            " end_time) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [(team, s.staff_id, s.role.value, s.tz, sorted(s.weekdays), s.start, s.end)
             for s in roster.shifts],
        )  # fmt: skip
        await cur.executemany(
            "INSERT INTO roster_backups (team_id, role, position, staff_id)"
            " VALUES (%s, %s, %s, %s)",
            [(team, role.value, i, staff) for role, staff_ids in roster.backups.items()
             for i, staff in enumerate(staff_ids)],
        )  # fmt: skip
