"""Patients and care teams: reads scoped by team, and the admin's writes."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

_COLUMNS = "id, team_id, display_name, tz, lang, glucose_unit, responsible_doctor, created_at"
EDITABLE = ("team_id", "display_name", "tz", "lang", "glucose_unit", "responsible_doctor")


async def team_of(conn: AsyncConnection[Any], patient_id: str) -> str | None:
    cur = await conn.execute("SELECT team_id FROM patients WHERE id = %s", (patient_id,))
    row = await cur.fetchone()
    return None if row is None else str(row[0])


async def get(conn: AsyncConnection[Any], patient_id: str) -> dict[str, Any] | None:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(f"SELECT {_COLUMNS} FROM patients WHERE id = %s", (patient_id,))
    return await cur.fetchone()


_RISK_JOIN = " LEFT JOIN patient_risk r ON r.patient_id = p.id"
_LISTED = (
    "p.id, p.team_id, p.display_name, p.tz, p.lang, p.glucose_unit, p.responsible_doctor,"
    " p.created_at,"
    " r.tier AS risk_tier, COALESCE(r.tags, '{}') AS risk_tags"
)
# sort=risk: high first, then by how long the patient has been at that tier (longest first).
_ORDER = {
    "id": "p.id",
    "risk": "CASE r.tier WHEN 'high' THEN 0 WHEN 'medium' THEN 1 WHEN 'low' THEN 2 ELSE 3 END,"
    " r.tier_since, p.id",
}


async def in_teams(
    conn: AsyncConnection[Any],
    team_ids: list[str],
    after: str | None,
    limit: int,
    tier: str | None = None,
    tag: str | None = None,
    sort: str = "id",
) -> list[dict[str, Any]]:
    """Patients of the teams with their risk (care program), filtered by tier and tag; `after`
    pages by id (sort=id only)."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        f"SELECT {_LISTED} FROM patients p{_RISK_JOIN} WHERE p.team_id = ANY(%(teams)s)"
        " AND (%(after)s::text IS NULL OR p.id > %(after)s)"
        " AND (%(tier)s::text IS NULL OR r.tier = %(tier)s)"
        " AND (%(tag)s::text IS NULL OR r.tags @> ARRAY[%(tag)s::text])"
        f" ORDER BY {_ORDER[sort]} LIMIT %(limit)s",
        {"teams": team_ids, "after": after, "tier": tier, "tag": tag, "limit": limit},
    )
    return await cur.fetchall()


async def create(conn: AsyncConnection[Any], values: dict[str, Any]) -> dict[str, Any] | None:
    """The new patient, or None if the id is taken."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "INSERT INTO patients (id, team_id, display_name, tz, lang, glucose_unit,"
        " responsible_doctor) VALUES (%(id)s, %(team_id)s, %(display_name)s, %(tz)s, %(lang)s,"
        " %(glucose_unit)s, %(responsible_doctor)s) ON CONFLICT (id) DO NOTHING"
        f" RETURNING {_COLUMNS}",
        values,
    )
    return await cur.fetchone()


async def update(
    conn: AsyncConnection[Any], patient_id: str, changes: dict[str, Any]
) -> dict[str, Any] | None:
    sets = ", ".join(f"{k} = %({k})s" for k in changes if k in EDITABLE)
    cur = conn.cursor(row_factory=dict_row)
    if not sets:
        return await get(conn, patient_id)
    await cur.execute(
        f"UPDATE patients SET {sets} WHERE id = %(pid)s RETURNING {_COLUMNS}",
        {**changes, "pid": patient_id},
    )
    return await cur.fetchone()


async def is_team_member(
    conn: AsyncConnection[Any], staff_id: str, team_id: str, role: str | None = None
) -> bool:
    cur = await conn.execute(
        "SELECT 1 FROM staff_teams st JOIN staff s ON s.id = st.staff_id"
        " WHERE st.staff_id = %s AND st.team_id = %s AND (%s::text IS NULL OR s.role = %s)",
        (staff_id, team_id, role, role),
    )
    return await cur.fetchone() is not None


async def teams(conn: AsyncConnection[Any], team_ids: list[str]) -> list[dict[str, Any]]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT id, name, tz FROM care_teams WHERE id = ANY(%s) ORDER BY id", (team_ids,)
    )
    return await cur.fetchall()
