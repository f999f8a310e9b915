"""Devices with the binding in force now, and their binding history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

# A device with its current patient and that patient's team (NULLs when unbound).
_DEVICE = """
    SELECT d.id, d.kind, d.expected_cadence_s, d.created_at, b.patient_id, p.team_id
      FROM devices d
      LEFT JOIN device_bindings b ON b.device_id = d.id AND b.valid_to IS NULL
      LEFT JOIN patients p ON p.id = b.patient_id
"""


async def get(conn: AsyncConnection[Any], device_id: str) -> dict[str, Any] | None:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(_DEVICE + " WHERE d.id = %s", (device_id,))
    return await cur.fetchone()


async def in_teams(
    conn: AsyncConnection[Any],
    team_ids: list[str],
    unbound: bool,
    after: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        _DEVICE + " WHERE (p.team_id = ANY(%s) OR (%s AND b.patient_id IS NULL))"
        " AND (%s::text IS NULL OR d.id > %s) ORDER BY d.id LIMIT %s",
        (team_ids, unbound, after, after, limit),
    )
    return await cur.fetchall()


async def create(conn: AsyncConnection[Any], values: dict[str, Any]) -> dict[str, Any] | None:
    cur = await conn.execute(
        "INSERT INTO devices (id, kind, expected_cadence_s)"
        " VALUES (%(id)s, %(kind)s, %(expected_cadence_s)s) ON CONFLICT (id) DO NOTHING"
        " RETURNING id",
        values,
    )
    return None if await cur.fetchone() is None else await get(conn, values["id"])


async def bindings(
    conn: AsyncConnection[Any], device_id: str, team_ids: list[str]
) -> list[dict[str, Any]]:
    """The device's bindings to patients of these teams (others' are not theirs to see)."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT b.device_id, b.patient_id, b.valid_from, b.valid_to, b.reason, b.changed_by,"
        " b.changed_at FROM device_bindings b JOIN patients p ON p.id = b.patient_id"
        " WHERE b.device_id = %s AND p.team_id = ANY(%s) ORDER BY b.valid_from DESC",
        (device_id, team_ids),
    )
    return await cur.fetchall()


async def binding_at(
    conn: AsyncConnection[Any], device_id: str, valid_from: datetime
) -> dict[str, Any] | None:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT device_id, patient_id, valid_from, valid_to, reason, changed_by, changed_at"
        " FROM device_bindings WHERE device_id = %s AND valid_from = %s",
        (device_id, valid_from),
    )
    return await cur.fetchone()
