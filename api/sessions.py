"""Staff sessions: sign in with a login and a password, resolve the session cookie on every
request, sign out. Sessions live in PostgreSQL (`staff_sessions`, by the SHA-256 of their id);
the cookie holds the id, the page holds the CSRF token.

A signed-in request is seen as a `SessionView`: the same `api.auth.Principal` a bearer token
gives (so every permission and scope check is unchanged) plus who the person is and how they
want to read (login, name, locale, time zone) and the session's CSRF token.

Sign-in answers only "signed in" or "refused": an unknown login, a disabled account, a locked
account and a wrong password are indistinguishable to the caller and cost the same time (a dummy
argon2 verification). All of them, lockouts, sign-ins and sign-outs go to the audit log.

Must not: set cookies or read HTTP (api.routes.signin and api.access do), or hold the session id
anywhere but in the caller's hands (only its digest is stored).
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from psycopg_pool import AsyncConnectionPool

from api import passwords
from api.auth import Principal, token_digest
from api.queries import audit
from api.queries import sessions as q
from api.session_policy import (
    Failures,
    SessionPolicy,
    after_failure,
    needs_touch,
    session_state,
    valid_login,
)

SESSION_COOKIE = "vigil_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"


@dataclass(frozen=True, slots=True)
class SessionView:
    """A signed-in person, as pages and routes see them."""

    principal: Principal  # staff_id, role, team_ids, expires_at (the absolute expiry)
    login: str
    name: str
    locale: str  # 'en' or 'zh-CN'
    time_zone: str  # IANA, e.g. 'Asia/Shanghai'
    csrf_token: str

    @property
    def staff_id(self) -> str:
        return self.principal.staff_id

    @property
    def role(self) -> str:
        return self.principal.role

    @property
    def team_ids(self) -> frozenset[str]:
        return self.principal.team_ids

    @property
    def expires_at(self) -> datetime:
        return self.principal.expires_at


@dataclass(frozen=True, slots=True)
class SignedIn:
    session_id: str  # the cookie's value: shown once, never stored
    view: SessionView


Resolution = Literal["ok", "unknown", "idle", "expired", "disabled"]


@dataclass(frozen=True, slots=True)
class Resolved:
    view: SessionView | None
    state: Resolution


def _view(row: q.SessionRow) -> SessionView:
    principal = Principal(row.staff_id, row.role, row.team_ids, row.expires_at)
    return SessionView(principal, row.login, row.name, row.locale, row.time_zone, row.csrf_token)


async def _audit(
    conn: q.Conn, now: datetime, acct: q.Account | None, action: str, **detail: object
) -> None:
    actor, role = (acct.staff_id, acct.role) if acct else ("unknown", "unknown")
    teams = list(acct.team_ids) if acct else []
    await audit.record_event(conn, now, actor, role, action, "session",
                             {**detail, "team_ids": teams})  # fmt: skip


async def sign_in(
    pool: AsyncConnectionPool, policy: SessionPolicy, now: datetime, login: str, password: str
) -> SignedIn | None:
    """A new session for a correct login and password; None (and an audit entry) otherwise."""
    login = login.strip().lower()
    async with pool.connection() as conn:
        acct = await q.account(conn, login) if valid_login(login) else None
    refusal = _refusal(acct, now)
    if refusal is not None:  # hashing holds no connection
        await asyncio.to_thread(passwords.waste_time, password)
        async with pool.connection() as conn:
            await _audit(conn, now, acct, "signin_refused", reason=refusal)
        return None
    assert acct is not None
    assert acct.password_hash is not None
    checked = await asyncio.to_thread(passwords.check, acct.password_hash, password)
    async with pool.connection() as conn, conn.transaction():
        before = await q.failures_for_update(conn, acct.staff_id)
        if before.locked(now):  # locked by concurrent failures meanwhile
            await _audit(conn, now, acct, "signin_refused", reason="locked")
            return None
        if not checked.ok:
            await _failed(conn, policy, now, acct, before)
            return None
        return await _open(conn, policy, now, acct, checked.rehash)


def _refusal(acct: q.Account | None, now: datetime) -> str | None:
    if acct is None:
        return "unknown_login"
    if acct.disabled:
        return "disabled"
    if acct.password_hash is None:
        return "no_password"
    return "locked" if acct.failures.locked(now) else None


async def _failed(
    conn: q.Conn, policy: SessionPolicy, now: datetime, acct: q.Account, before: Failures
) -> None:
    after = after_failure(policy, now, before)
    await q.save_failures(conn, acct.staff_id, after)
    await _audit(conn, now, acct, "signin_failed", reason="wrong_password",
                 consecutive=before.failed_attempts + 1)  # fmt: skip
    if after.locked_until != before.locked_until and after.locked_until is not None:
        await _audit(conn, now, acct, "lockout", until=after.locked_until.isoformat(),
                     lockouts=after.lockouts)  # fmt: skip


async def _open(
    conn: q.Conn, policy: SessionPolicy, now: datetime, acct: q.Account, rehash: str | None
) -> SignedIn:
    await q.signed_in(conn, acct.staff_id, rehash)
    session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    digest = token_digest(session_id)
    expires_at = now + timedelta(seconds=policy.absolute_s)
    await q.insert_session(conn, digest, acct.staff_id, csrf, now, expires_at)
    await _audit(conn, now, acct, "signin", rehashed=rehash is not None)
    row = await q.open_session(conn, digest)
    assert row is not None
    return SignedIn(session_id, _view(row))


async def resolve(
    pool: AsyncConnectionPool,
    policy: SessionPolicy,
    now: datetime,
    session_id: str,
    *,
    touch: bool = True,
) -> Resolved:
    """The session behind a cookie value, its last use refreshed (unless `touch` is False: a
    check that is not the person's doing); an idle, expired or disabled one is ended here (with
    that reason) and answers no view."""
    digest = token_digest(session_id)
    async with pool.connection() as conn:
        row = await q.open_session(conn, digest)
        if row is None:
            return Resolved(None, "unknown")
        state: Resolution = (
            "disabled" if row.disabled else session_state(policy, now, row.last_seen_at,
                                                          row.expires_at)
        )  # fmt: skip
        if state != "ok":
            await q.end_session(conn, digest, now, state)
            return Resolved(None, state)
        if touch and needs_touch(policy, now, row.last_seen_at):
            await q.touch(conn, digest, now)
        return Resolved(_view(row), "ok")


async def sign_out(pool: AsyncConnectionPool, now: datetime, session_id: str) -> bool:
    """End the session server-side (audited); False if it was not open."""
    async with pool.connection() as conn, conn.transaction():
        staff_id = await q.end_session(conn, token_digest(session_id), now, "signed_out")
        if staff_id is None:
            return False
        role, teams = await q.role_and_teams(conn, staff_id)
        await audit.record_event(conn, now, staff_id, role, "signout", "session",
                                 {"team_ids": list(teams)})  # fmt: skip
    return True
