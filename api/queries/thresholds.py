"""Per-patient threshold overrides (versioned: a change is a new row, never an update)."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

_COLUMNS = "patient_id, rule_id, version, params, reason, changed_by, changed_at"


async def versions(conn: AsyncConnection[Any], patient_id: str) -> list[dict[str, Any]]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        f"SELECT {_COLUMNS} FROM threshold_overrides WHERE patient_id = %s"
        " ORDER BY rule_id, version DESC",
        (patient_id,),
    )
    return await cur.fetchall()


async def add_version(
    conn: AsyncConnection[Any],
    patient_id: str,
    rule_id: str,
    params: dict[str, Any],
    reason: str,
    changed_by: str,
) -> dict[str, Any]:
    """The next version of the patient's override of this rule. The patient row is locked
    first, so two concurrent changes get consecutive versions instead of a conflict."""
    await conn.execute("SELECT 1 FROM patients WHERE id = %s FOR UPDATE", (patient_id,))
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "INSERT INTO threshold_overrides (patient_id, rule_id, version, params, reason,"
        " changed_by) SELECT %(p)s, %(r)s, COALESCE(max(version), 0) + 1, %(params)s,"
        " %(reason)s, %(by)s FROM threshold_overrides WHERE patient_id = %(p)s"
        f" AND rule_id = %(r)s RETURNING {_COLUMNS}",
        {"p": patient_id, "r": rule_id, "params": Jsonb(params), "reason": reason,
         "by": changed_by},
    )  # fmt: skip
    row = await cur.fetchone()
    assert row is not None, "INSERT ... SELECT with an aggregate yields one row"
    return row
