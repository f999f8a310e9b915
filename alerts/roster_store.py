"""PostgreSQL adapter of the rosters: a care team's shifts, current overrides and backups as an
`alerts.roster.TeamRoster`, and who to page for a patient at a tier.

Read inside the caller's transaction, so a page and the alert transition that caused it see the
same roster. Tier 3 goes to the patient's responsible doctor first, when one is set; the team's
on-call doctors are then the backups (DESIGN 5: "the on-call doctor as backup").
"""

from __future__ import annotations

from datetime import datetime
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


async def who_to_page(
    conn: AsyncConnection[Any], patient_id: str, tier: Tier, at: datetime
) -> OnCall:
    cur = await conn.execute(
        "SELECT team_id, responsible_doctor FROM patients WHERE id = %s", (patient_id,)
    )
    row = await cur.fetchone()
    if row is None:
        return OnCall((), ())
    team_id, doctor = row
    rota = on_call(await load_roster(conn, team_id, at), tier, at)
    if tier is not Tier.DOCTOR or doctor is None:
        return rota
    backup = tuple(s for s in (*rota.primary, *rota.backup) if s != doctor)
    return OnCall((doctor,), backup)


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
