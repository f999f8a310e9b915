"""Bearer-token authentication of staff, for REST and the websocket.

Tokens are random strings handed to staff once; only their SHA-256 is stored (`api_tokens`).
A token resolves to a `Principal`: who, which role, which care teams, until when. Scoping by
team happens wherever data is read, using `Principal.team_ids`.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from psycopg_pool import AsyncConnectionPool


@dataclass(frozen=True, slots=True)
class Principal:
    staff_id: str
    role: str
    team_ids: frozenset[str]
    expires_at: datetime

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


async def authenticate(pool: AsyncConnectionPool, token: str, now: datetime) -> Principal | None:
    async with pool.connection() as conn:
        cur = await conn.execute(
            """
            SELECT s.id, s.role, t.expires_at,
                   COALESCE(array_agg(st.team_id) FILTER (WHERE st.team_id IS NOT NULL), '{}')
              FROM api_tokens t
              JOIN staff s ON s.id = t.staff_id
              LEFT JOIN staff_teams st ON st.staff_id = s.id
             WHERE t.token_sha256 = %s AND t.expires_at > %s
             GROUP BY s.id, s.role, t.expires_at
            """,
            (token_digest(token), now),
        )
        row = await cur.fetchone()
    if row is None:
        return None
    staff_id, role, expires_at, teams = row
    return Principal(staff_id, role, frozenset(teams), expires_at)


async def issue_token(
    pool: AsyncConnectionPool, staff_id: str, now: datetime, ttl: timedelta
) -> str:
    token = secrets.token_urlsafe(32)
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO api_tokens (token_sha256, staff_id, expires_at) VALUES (%s, %s, %s)",
            (token_digest(token), staff_id, now + ttl),
        )
    return token
