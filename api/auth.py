"""Bearer-token authentication for REST and the websocket: staff, patients and devices.

Tokens are random strings handed out once; only their SHA-256 is stored (`api_tokens`), with one
subject each: a staff member, a patient or a device. A token resolves to a `Principal`: who,
which role, which care teams, until when. Staff roles come from `staff.role` and their teams
from `staff_teams`; a patient's role is "patient" and its team the patient's team; a device has
the role "device" and no team. Scoping happens wherever data is read, using the principal.

A disabled staff member's tokens resolve to nothing (`staff.disabled_at`, issue 10).

Must not: decide what a role may do (api.access does), or accept an expired token.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg_pool import AsyncConnectionPool

STAFF_ONLY = frozenset({"staff"})
ANY_SUBJECT = frozenset({"staff", "patient", "device"})


@dataclass(frozen=True, slots=True)
class Principal:
    staff_id: str  # the subject's id: a staff id, a patient id or a device id
    role: str  # nurse, doctor, admin, patient, device
    team_ids: frozenset[str]
    expires_at: datetime
    subject: str = "staff"  # staff, patient, device
    patient_id: str | None = None
    device_id: str | None = None

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


# One row per token whatever its subject; teams of staff from staff_teams, of a patient its own.
_RESOLVE = """
    SELECT t.staff_id, t.patient_id, t.device_id, t.expires_at, s.role,
           CASE WHEN t.staff_id IS NOT NULL THEN
                COALESCE((SELECT array_agg(st.team_id) FROM staff_teams st
                           WHERE st.staff_id = t.staff_id), '{}')
                WHEN t.patient_id IS NOT NULL THEN ARRAY[p.team_id]
                ELSE '{}' END
      FROM api_tokens t
      LEFT JOIN staff s ON s.id = t.staff_id
      LEFT JOIN patients p ON p.id = t.patient_id
     WHERE t.token_sha256 = %s AND t.expires_at > %s
       AND s.disabled_at IS NULL  -- a disabled staff member's tokens stop working (NULL: no staff)
"""


def _principal(row: tuple[Any, ...]) -> Principal:
    staff_id, patient_id, device_id, expires_at, role, teams = row
    team_ids = frozenset(teams)
    if staff_id is not None:
        return Principal(staff_id, role, team_ids, expires_at)
    if patient_id is not None:
        return Principal(
            patient_id, "patient", team_ids, expires_at, "patient", patient_id=patient_id
        )
    return Principal(device_id, "device", team_ids, expires_at, "device", device_id=device_id)


async def authenticate(
    pool: AsyncConnectionPool,
    token: str,
    now: datetime,
    subjects: frozenset[str] = STAFF_ONLY,
) -> Principal | None:
    """The principal of an unexpired token whose subject is one of `subjects`, or None.

    Staff only by default: the websocket feed is for clinicians, and a patient's token (whose
    team is the patient's team) must never open it. The REST API passes `ANY_SUBJECT`."""
    async with pool.connection() as conn:
        cur = await conn.execute(_RESOLVE, (token_digest(token), now))
        row = await cur.fetchone()
    principal = None if row is None else _principal(row)
    return principal if principal is not None and principal.subject in subjects else None


async def issue_token(
    pool: AsyncConnectionPool, staff_id: str, now: datetime, ttl: timedelta
) -> str:
    """A new token for a staff member."""
    return await issue_subject_token(pool, now, ttl, staff_id=staff_id)


async def issue_subject_token(
    pool: AsyncConnectionPool,
    now: datetime,
    ttl: timedelta,
    *,
    staff_id: str | None = None,
    patient_id: str | None = None,
    device_id: str | None = None,
) -> str:
    """A new token for exactly one subject: a staff member, a patient or a device."""
    if sum(x is not None for x in (staff_id, patient_id, device_id)) != 1:
        raise ValueError("a token has exactly one subject")
    token = secrets.token_urlsafe(32)
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO api_tokens (token_sha256, staff_id, patient_id, device_id, expires_at)"
            " VALUES (%s, %s, %s, %s, %s)",
            (token_digest(token), staff_id, patient_id, device_id, now + ttl),
        )
    return token
