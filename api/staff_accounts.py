"""Staff accounts for signing in: add one (login, name, role, teams, password, locale, time
zone), change a password, disable one. Used by `vigil staff ...` and the demo; every change is
audited, and changing a password or disabling ends the person's open sessions.

Must not: read a password from anywhere (callers pass it) or keep one beyond hashing it.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from psycopg_pool import AsyncConnectionPool

from api import passwords, registry
from api.queries import audit
from api.queries import sessions as q
from api.session_policy import valid_login

LOCALES = ("en", "zh-CN")
ROLES = ("nurse", "doctor", "admin")
DEFAULT_TIME_ZONE = "Asia/Shanghai"
OPERATOR = "vigil-cli"  # the audit log's actor for changes made on the command line


class AccountError(ValueError):
    """A refused account change, with a message for the operator."""


def _check(login: str, role: str, teams: list[str], locale: str, time_zone: str | None) -> None:
    if not valid_login(login):
        raise AccountError("a login is 1-64 of a-z 0-9 . _ - starting with a letter or digit")
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    if not teams:
        raise AccountError("a staff member belongs to at least one care team")
    if locale not in LOCALES:
        raise AccountError(f"locale must be one of {', '.join(LOCALES)}")
    if time_zone is not None:
        try:
            ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise AccountError(f"unknown time zone {time_zone!r} (an IANA name)") from None


async def add_staff(
    pool: AsyncConnectionPool,
    now: datetime,
    *,
    login: str,
    name: str,
    role: str,
    teams: list[str],
    password: str,
    locale: str = "en",
    time_zone: str | None = None,
    staff_id: str | None = None,
) -> str:
    """Create (or update) a staff member with a login; their staff id (default: the login).
    The time zone defaults to their first team's."""
    _check(login, role, teams, locale, time_zone)
    hashed = await _hash(password)
    staff_id = staff_id or login
    async with pool.connection() as conn, conn.transaction():
        for team in teams:
            if await q.team_time_zone(conn, team) is None:
                raise AccountError(f"no care team {team}")
        tz = time_zone or await q.team_time_zone(conn, teams[0]) or DEFAULT_TIME_ZONE
        taken = await q.staff_by_login(conn, login)
        if taken is not None and taken[0] != staff_id:
            raise AccountError(f"the login {login!r} belongs to staff id {taken[0]}")
        await registry.upsert_staff(conn, staff_id, name, role, teams)
        await q.set_account(conn, staff_id, login, hashed, locale, tz)
        await _audit(conn, now, "staff_added", staff_id, teams, role=role)
    return staff_id


async def change_password(
    pool: AsyncConnectionPool, now: datetime, login: str, password: str
) -> None:
    hashed = await _hash(password)
    async with pool.connection() as conn, conn.transaction():
        staff_id = await _staff_id(conn, login)
        await q.set_password(conn, staff_id, hashed)
        ended = await q.end_staff_sessions(conn, staff_id, now, "password_changed")
        _, teams = await q.role_and_teams(conn, staff_id)
        await _audit(conn, now, "password_changed", staff_id, list(teams), sessions_ended=ended)


async def disable_staff(pool: AsyncConnectionPool, now: datetime, login: str) -> int:
    """Disable the account and end its sessions; how many sessions were ended."""
    async with pool.connection() as conn, conn.transaction():
        staff_id = await _staff_id(conn, login)
        await q.disable(conn, staff_id, now)
        ended = await q.end_staff_sessions(conn, staff_id, now, "disabled")
        _, teams = await q.role_and_teams(conn, staff_id)
        await _audit(conn, now, "staff_disabled", staff_id, list(teams), sessions_ended=ended)
    return ended


async def _hash(password: str) -> str:
    try:
        return await asyncio.to_thread(passwords.hash_password, password)
    except passwords.WeakPasswordError as e:
        raise AccountError(str(e)) from None


async def _staff_id(conn: q.Conn, login: str) -> str:
    found = await q.staff_by_login(conn, login)
    if found is None:
        raise AccountError(f"no staff member signs in as {login!r}")
    return found[0]


async def _audit(
    conn: q.Conn, now: datetime, action: str, staff_id: str, teams: list[str], **detail: object
) -> None:
    await audit.record_event(conn, now, OPERATOR, "operator", action, "staff",
                             {"staff_id": staff_id, "team_ids": teams, **detail})  # fmt: skip
