"""The patient page's reads: the header (patient, care team, responsible doctor), the alert
history with outcomes, and the tier-1 messages sent to the patient with their delivery state.

Must not: check access (the caller has, with api.routes._common.visible_patient) or write.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

_HEADER = """
    SELECT p.id, p.display_name, p.tz, p.lang, p.created_at, p.team_id, t.name AS team_name,
           t.tz AS team_tz, p.responsible_doctor, s.name AS responsible_doctor_name
      FROM patients p JOIN care_teams t ON t.id = p.team_id
      LEFT JOIN staff s ON s.id = p.responsible_doctor
     WHERE p.id = %s
"""
_ALERTS = """
    SELECT id, rule_id, title, severity, status, tier, metric, unit, first_value, worst_value,
           last_value, count, opened_at, last_seen_at, acknowledged_by, acknowledged_at,
           resolved_at, resolved_by, outcome, dangerous
      FROM alerts WHERE patient_id = %s
     ORDER BY opened_at DESC, id DESC
     LIMIT %s
"""
_MESSAGES = """
    SELECT id, alert_id, template, lang, body, created_at, attempts, failures, sent_at, sent_to,
           last_error, next_attempt_at
      FROM patient_messages WHERE patient_id = %s
     ORDER BY created_at DESC, id DESC
     LIMIT %s
"""


async def header(conn: AsyncConnection[Any], patient_id: str) -> dict[str, Any] | None:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(_HEADER, (patient_id,))
    return await cur.fetchone()


async def alert_history(
    conn: AsyncConnection[Any], patient_id: str, limit: int
) -> list[dict[str, Any]]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(_ALERTS, (patient_id, limit))
    return await cur.fetchall()


async def messages(conn: AsyncConnection[Any], patient_id: str, limit: int) -> list[dict[str, Any]]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(_MESSAGES, (patient_id, limit))
    return await cur.fetchall()
