"""Staff as the workspace shows them: a team's members (to assign an alert to) and display
names of staff ids (assignees, who did what on an alert). Read-only."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row


async def of_team(conn: AsyncConnection[Any], team_id: str) -> list[dict[str, Any]]:
    """The team's members: id, name, role; ordered by name."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT s.id, s.name, s.role FROM staff s JOIN staff_teams st ON st.staff_id = s.id"
        " WHERE st.team_id = %s ORDER BY s.name, s.id",
        (team_id,),
    )
    return await cur.fetchall()


async def names(conn: AsyncConnection[Any], staff_ids: Iterable[str | None]) -> dict[str, str]:
    """Staff id -> name for the ids given (unknown ids and None are left out)."""
    ids = sorted({i for i in staff_ids if i})
    if not ids:
        return {}
    cur = await conn.execute("SELECT id, name FROM staff WHERE id = ANY(%s)", (ids,))
    return {str(i): str(n) for i, n in await cur.fetchall()}
