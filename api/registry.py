"""Enrolment records: care teams, staff, patients, devices and their bindings (SQL).

Used by administrators (through the composition root's commands now, the REST API later).
Every function is idempotent on its natural key, so enrolment scripts can be re-run.
"""

from __future__ import annotations

from datetime import datetime

from psycopg import AsyncConnection


async def upsert_team(conn: AsyncConnection, team_id: str, name: str, tz: str = "UTC") -> None:
    await conn.execute(
        "INSERT INTO care_teams (id, name, tz) VALUES (%s, %s, %s)"
        " ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, tz = EXCLUDED.tz",
        (team_id, name, tz),
    )


async def upsert_staff(
    conn: AsyncConnection, staff_id: str, name: str, role: str, team_ids: list[str]
) -> None:
    await conn.execute(
        "INSERT INTO staff (id, name, role) VALUES (%s, %s, %s)"
        " ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, role = EXCLUDED.role",
        (staff_id, name, role),
    )
    # Replace, not add: someone moved off a team must stop seeing its patients.
    await conn.execute(
        "DELETE FROM staff_teams WHERE staff_id = %s AND NOT (team_id = ANY(%s))",
        (staff_id, team_ids),
    )
    await conn.execute(
        "INSERT INTO staff_teams (staff_id, team_id) SELECT %s, unnest(%s::text[])"
        " ON CONFLICT DO NOTHING",
        (staff_id, team_ids),
    )


async def upsert_patient(
    conn: AsyncConnection, patient_id: str, team_id: str, display_name: str
) -> None:
    await conn.execute(
        "INSERT INTO patients (id, team_id, display_name) VALUES (%s, %s, %s)"
        " ON CONFLICT (id) DO UPDATE SET team_id = EXCLUDED.team_id,"
        " display_name = EXCLUDED.display_name",
        (patient_id, team_id, display_name),
    )


async def upsert_device(
    conn: AsyncConnection, device_id: str, kind: str, expected_cadence_s: int | None
) -> None:
    await conn.execute(
        "INSERT INTO devices (id, kind, expected_cadence_s) VALUES (%s, %s, %s)"
        " ON CONFLICT (id) DO UPDATE SET kind = EXCLUDED.kind,"
        " expected_cadence_s = EXCLUDED.expected_cadence_s",
        (device_id, kind, expected_cadence_s),
    )


async def bind_device(
    conn: AsyncConnection,
    device_id: str,
    patient_id: str,
    valid_from: datetime,
    *,
    reason: str,
    changed_by: str,
) -> bool:
    """Bind the device from `valid_from` on, closing its open binding to another patient.

    Returns False (and changes nothing) when it is already bound to this patient.
    """
    cur = await conn.execute(
        "SELECT patient_id FROM device_bindings"
        " WHERE device_id = %s AND valid_to IS NULL FOR UPDATE",
        (device_id,),
    )
    row = await cur.fetchone()
    if row is not None and row[0] == patient_id:
        return False
    if row is not None:
        await conn.execute(
            "UPDATE device_bindings SET valid_to = %s WHERE device_id = %s AND valid_to IS NULL",
            (valid_from, device_id),
        )
    await conn.execute(
        "INSERT INTO device_bindings (device_id, patient_id, valid_from, reason, changed_by)"
        " VALUES (%s, %s, %s, %s, %s)",
        (device_id, patient_id, valid_from, reason, changed_by),
    )
    return True
