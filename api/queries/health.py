"""Whether the database answers: the readiness half of /health (api.health).

One `SELECT 1` through the API's pool, bounded in time. A database that is down, refusing
connections, or too slow to answer within the bound counts as unreachable: the caller says
"unavailable", never "ok". Must not: raise (every failure is an answer) or log the error's text
(it can quote connection details).
"""

from __future__ import annotations

import asyncio
import time

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout


async def database_round_trip_s(pool: AsyncConnectionPool, timeout_s: float) -> float | None:
    """Seconds one `SELECT 1` took, or None when the database did not answer within
    `timeout_s` (down, refusing connections, or the pool exhausted)."""
    start = time.monotonic()
    try:
        async with asyncio.timeout(timeout_s):
            async with pool.connection(timeout=timeout_s) as conn:
                await conn.execute("SELECT 1")
    except (psycopg.Error, PoolTimeout, TimeoutError, OSError):
        return None
    return time.monotonic() - start
