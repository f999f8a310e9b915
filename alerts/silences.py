"""PostgreSQL adapter of silences: add one, list a patient's. (The alert writer reads the one in
force for an alert's (patient, rule), the latest-ending if several overlap, in alerts.response.)

Silences never hide a value dangerous on its own: the escalation machine ignores them for
such alerts (alerts.escalation.start).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

_COLUMNS = "id, patient_id, rule_id, starts_at, ends_at, reason, created_by, created_at"


async def add_silence(
    conn: AsyncConnection[Any],
    patient_id: str,
    rule_id: str | None,
    starts_at: datetime,
    ends_at: datetime,
    reason: str,
    created_by: str,
) -> dict[str, Any]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "INSERT INTO silences (patient_id, rule_id, starts_at, ends_at, reason, created_by)"
        f" VALUES (%s, %s, %s, %s, %s, %s) RETURNING {_COLUMNS}",
        (patient_id, rule_id, starts_at, ends_at, reason, created_by),
    )
    row = await cur.fetchone()
    assert row is not None
    return row


async def list_silences(
    conn: AsyncConnection[Any], patient_id: str, at: datetime
) -> list[dict[str, Any]]:
    """The patient's silences in force at `at` or still to come."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        f"SELECT {_COLUMNS} FROM silences WHERE patient_id = %s AND ends_at > %s"
        " ORDER BY starts_at",
        (patient_id, at),
    )
    return await cur.fetchall()
