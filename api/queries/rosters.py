"""A care team's roster rows (shifts, overrides, backups) as the admin edits them. Who is on
call is computed from the same tables by alerts.roster_store and alerts.roster."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

_SHIFT = "id, staff_id, role, tz, weekdays, start_time, end_time"
_OVERRIDE = "id, staff_id, role, starts_at, ends_at, replaces, reason, created_by"


async def shifts(conn: AsyncConnection[Any], team_id: str) -> list[dict[str, Any]]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        f"SELECT {_SHIFT} FROM roster_shifts WHERE team_id = %s ORDER BY id", (team_id,)
    )
    return await cur.fetchall()


async def overrides(conn: AsyncConnection[Any], team_id: str, at: datetime) -> list[dict[str, Any]]:
    """The overrides not yet ended at `at`."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        f"SELECT {_OVERRIDE} FROM roster_overrides WHERE team_id = %s AND ends_at > %s"
        " ORDER BY starts_at, id",
        (team_id, at),
    )
    return await cur.fetchall()


async def backups(conn: AsyncConnection[Any], team_id: str) -> dict[str, list[str]]:
    cur = await conn.execute(
        "SELECT role, staff_id FROM roster_backups WHERE team_id = %s ORDER BY role, position",
        (team_id,),
    )
    out: dict[str, list[str]] = {}
    for role, staff_id in await cur.fetchall():
        out.setdefault(role, []).append(staff_id)
    return out


async def add_shift(conn: AsyncConnection[Any], team_id: str, s: dict[str, Any]) -> dict[str, Any]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "INSERT INTO roster_shifts (team_id, staff_id, role, tz, weekdays, start_time, end_time)"
        " VALUES (%(team)s, %(staff_id)s, %(role)s, %(tz)s, %(weekdays)s::smallint[],"
        f" %(start_time)s, %(end_time)s) RETURNING {_SHIFT}",
        {**s, "team": team_id, "weekdays": sorted(set(s["weekdays"]))},
    )
    row = await cur.fetchone()
    assert row is not None
    return row


async def add_override(
    conn: AsyncConnection[Any], team_id: str, o: dict[str, Any], created_by: str
) -> dict[str, Any]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "INSERT INTO roster_overrides (team_id, staff_id, role, starts_at, ends_at, replaces,"
        " reason, created_by) VALUES (%(team)s, %(staff_id)s, %(role)s, %(starts_at)s,"
        f" %(ends_at)s, %(replaces)s, %(reason)s, %(by)s) RETURNING {_OVERRIDE}",
        {**o, "team": team_id, "by": created_by},
    )
    row = await cur.fetchone()
    assert row is not None
    return row


async def delete(conn: AsyncConnection[Any], table: str, team_id: str, row_id: int) -> bool:
    assert table in ("roster_shifts", "roster_overrides")
    cur = await conn.execute(
        f"DELETE FROM {table} WHERE team_id = %s AND id = %s", (team_id, row_id)
    )
    return cur.rowcount > 0


async def set_backups(
    conn: AsyncConnection[Any], team_id: str, role: str, staff_ids: list[str]
) -> None:
    await conn.execute(
        "DELETE FROM roster_backups WHERE team_id = %s AND role = %s", (team_id, role)
    )
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO roster_backups (team_id, role, position, staff_id)"
            " VALUES (%s, %s, %s, %s)",
            [(team_id, role, i, s) for i, s in enumerate(staff_ids)],
        )


async def members(conn: AsyncConnection[Any], team_id: str, staff_ids: list[str]) -> set[str]:
    cur = await conn.execute(
        "SELECT staff_id FROM staff_teams WHERE team_id = %s AND staff_id = ANY(%s)",
        (team_id, staff_ids),
    )
    return {row[0] for row in await cur.fetchall()}
