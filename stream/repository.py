"""PostgreSQL adapters of the stream stage: threshold overrides and embedded-runner snapshots.

All SQL of the stream stage except the readings sink lives here (CONVENTIONS 10).
"""

from __future__ import annotations

from collections.abc import Iterable

from psycopg_pool import AsyncConnectionPool

from stream.overrides import Override, OverrideIndex
from stream.rules import RuleSet
from stream.state import PatientState

OVERRIDES_CHANNEL = "vigil_overrides"


async def load_overrides(pool: AsyncConnectionPool, rules: RuleSet) -> OverrideIndex:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT patient_id, rule_id, version, params FROM threshold_overrides"
        )
        rows = await cur.fetchall()
    return OverrideIndex(rules, [Override(p, r, v, params) for p, r, v, params in rows])


async def save_states(pool: AsyncConnectionPool, states: Iterable[PatientState]) -> int:
    """Snapshot operator states (embedded runner: restored at the next start)."""
    rows = [(s.patient_id, s.pack()) for s in states]
    if not rows:
        return 0
    async with pool.connection() as conn, conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO stream_states (patient_id, state) VALUES (%s, %s)"
            " ON CONFLICT (patient_id) DO UPDATE SET state = EXCLUDED.state, saved_at = now()",
            rows,
        )
    return len(rows)


async def load_states(
    pool: AsyncConnectionPool, alpha: float, dedupe_memory: int
) -> list[PatientState]:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT state FROM stream_states")
        return [
            PatientState.unpack(bytes(raw), alpha, dedupe_memory) for (raw,) in await cur.fetchall()
        ]
