"""SQL of staff sign-in and sessions: accounts by login, the lockout counters (read for update),
session rows (stored by the SHA-256 of their id), and the staff commands (add, passwd, disable).

Must not: decide anything (api.session_policy and api.sessions do) or see a raw session id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from api.session_policy import Failures

Conn = AsyncConnection[Any]


@dataclass(frozen=True, slots=True)
class Account:
    staff_id: str
    role: str
    password_hash: str | None
    disabled: bool
    failures: Failures
    team_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SessionRow:
    staff_id: str
    login: str
    name: str
    role: str
    team_ids: frozenset[str]
    locale: str
    time_zone: str
    csrf_token: str
    last_seen_at: datetime
    expires_at: datetime
    disabled: bool


async def account(conn: Conn, login: str) -> Account | None:
    cur = await conn.execute(
        "SELECT id, role, password_hash, disabled_at IS NOT NULL, failed_attempts, lockouts,"
        " locked_until, ARRAY(SELECT team_id FROM staff_teams WHERE staff_id = staff.id"
        " ORDER BY team_id) FROM staff WHERE login = %s",
        (login,),
    )
    row = await cur.fetchone()
    if row is None:
        return None
    return Account(row[0], row[1], row[2], row[3], Failures(row[4], row[5], row[6]), tuple(row[7]))


async def failures_for_update(conn: Conn, staff_id: str) -> Failures:
    cur = await conn.execute(
        "SELECT failed_attempts, lockouts, locked_until FROM staff WHERE id = %s FOR UPDATE",
        (staff_id,),
    )
    row = await cur.fetchone()
    assert row is not None, "the account was read a moment ago and staff rows are not deleted"
    return Failures(row[0], row[1], row[2])


async def save_failures(conn: Conn, staff_id: str, f: Failures) -> None:
    await conn.execute(
        "UPDATE staff SET failed_attempts = %s, lockouts = %s, locked_until = %s WHERE id = %s",
        (f.failed_attempts, f.lockouts, f.locked_until, staff_id),
    )


async def signed_in(conn: Conn, staff_id: str, rehash: str | None) -> None:
    await conn.execute(
        "UPDATE staff SET failed_attempts = 0, lockouts = 0, locked_until = NULL,"
        " password_hash = COALESCE(%s, password_hash) WHERE id = %s",
        (rehash, staff_id),
    )


async def insert_session(
    conn: Conn, digest: bytes, staff_id: str, csrf: str, now: datetime, expires_at: datetime
) -> None:
    await conn.execute(
        "INSERT INTO staff_sessions (id_sha256, staff_id, csrf_token, created_at, last_seen_at,"
        " expires_at) VALUES (%s, %s, %s, %s, %s, %s)",
        (digest, staff_id, csrf, now, now, expires_at),
    )


_SESSION = """
    SELECT s.staff_id, st.login, st.name, st.role,
           COALESCE((SELECT array_agg(t.team_id) FROM staff_teams t
                      WHERE t.staff_id = s.staff_id), '{}'),
           st.locale, st.time_zone, s.csrf_token, s.last_seen_at, s.expires_at,
           st.disabled_at IS NOT NULL
      FROM staff_sessions s JOIN staff st ON st.id = s.staff_id
     WHERE s.id_sha256 = %s AND s.ended_at IS NULL
"""


async def open_session(conn: Conn, digest: bytes) -> SessionRow | None:
    """The session, if not ended, whatever its expiry (the caller decides)."""
    cur = await conn.execute(_SESSION, (digest,))
    row = await cur.fetchone()
    if row is None:
        return None
    return SessionRow(row[0], row[1], row[2], row[3], frozenset(row[4]), *row[5:])


async def touch(conn: Conn, digest: bytes, now: datetime) -> None:
    await conn.execute(
        "UPDATE staff_sessions SET last_seen_at = %s"
        " WHERE id_sha256 = %s AND ended_at IS NULL AND last_seen_at < %s",
        (now, digest, now),
    )


async def end_session(conn: Conn, digest: bytes, now: datetime, reason: str) -> str | None:
    """End one open session; its staff id, or None if it was not open."""
    cur = await conn.execute(
        "UPDATE staff_sessions SET ended_at = %s, ended_reason = %s"
        " WHERE id_sha256 = %s AND ended_at IS NULL RETURNING staff_id",
        (now, reason, digest),
    )
    row = await cur.fetchone()
    return None if row is None else str(row[0])


async def end_staff_sessions(conn: Conn, staff_id: str, now: datetime, reason: str) -> int:
    cur = await conn.execute(
        "UPDATE staff_sessions SET ended_at = %s, ended_reason = %s"
        " WHERE staff_id = %s AND ended_at IS NULL",
        (now, reason, staff_id),
    )
    return cur.rowcount


async def staff_by_login(conn: Conn, login: str) -> tuple[str, str] | None:
    """(staff id, role) of a login."""
    cur = await conn.execute("SELECT id, role FROM staff WHERE login = %s", (login,))
    row = await cur.fetchone()
    return None if row is None else (str(row[0]), str(row[1]))


async def role_and_teams(conn: Conn, staff_id: str) -> tuple[str, tuple[str, ...]]:
    cur = await conn.execute(
        "SELECT role, ARRAY(SELECT team_id FROM staff_teams WHERE staff_id = staff.id"
        " ORDER BY team_id) FROM staff WHERE id = %s",
        (staff_id,),
    )
    row = await cur.fetchone()
    return ("unknown", ()) if row is None else (str(row[0]), tuple(row[1]))


async def set_password(conn: Conn, staff_id: str, password_hash: str) -> None:
    await conn.execute(
        "UPDATE staff SET password_hash = %s, failed_attempts = 0, lockouts = 0,"
        " locked_until = NULL WHERE id = %s",
        (password_hash, staff_id),
    )


async def disable(conn: Conn, staff_id: str, now: datetime) -> None:
    await conn.execute(
        "UPDATE staff SET disabled_at = COALESCE(disabled_at, %s) WHERE id = %s", (now, staff_id)
    )


async def team_time_zone(conn: Conn, team_id: str) -> str | None:
    cur = await conn.execute("SELECT tz FROM care_teams WHERE id = %s", (team_id,))
    row = await cur.fetchone()
    return None if row is None else str(row[0])


async def set_account(
    conn: Conn, staff_id: str, login: str, password_hash: str, locale: str, time_zone: str
) -> None:
    """Give a staff member (already in `staff`) a login, a password and their preferences;
    re-enables a disabled account."""
    await conn.execute(
        "UPDATE staff SET login = %s, password_hash = %s, locale = %s, time_zone = %s,"
        " disabled_at = NULL, failed_attempts = 0, lockouts = 0, locked_until = NULL"
        " WHERE id = %s",
        (login, password_hash, locale, time_zone, staff_id),
    )
