"""Who may do what: the caller's principal from its bearer token or its session cookie, the
roles allowed per kind of action, and team scoping of patients (DESIGN 6: another team's patient
is "not found").

Dependencies (FastAPI):
- `Caller` (`principal`): a bearer token (programs, devices: unchanged) or else the session
  cookie `vigil_session` (browsers). A request authenticated by the cookie whose method is not
  GET, HEAD or OPTIONS must carry the session's CSRF token in the `X-CSRF-Token` header or an
  urlencoded form field `csrf_token`, else 403 `csrf_failed`.
- `Viewer` (`viewer`): the signed-in `SessionView`, or None (pages redirect to /signin); no CSRF
  check, for pages served by GET.
- `SignedIn` (`signed_in`): the `SessionView`, else 401; CSRF-checked like `Caller` (for page
  forms that post).
The session is resolved once per request (kept on `request.state`), its last use refreshed.

Pure apart from those dependencies.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import datetime
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from psycopg_pool import AsyncConnectionPool

from alerts.actions import Actor
from api import sessions
from api.auth import ANY_SUBJECT, Principal, authenticate
from api.errors import CsrfError, ForbiddenError, NotFoundError, UnauthenticatedError
from api.session_policy import SessionPolicy
from api.sessions import CSRF_FIELD, CSRF_HEADER, SESSION_COOKIE, SessionView

STAFF = frozenset({"nurse", "doctor", "admin"})
ADMIN = frozenset({"admin"})
PHI_READERS = STAFF | {"patient"}  # a patient reads only their own record
DEVICE_READERS = STAFF | {"device"}  # a device reads only its own record
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_FORM = "application/x-www-form-urlencoded"
_FORM_MAX_BYTES = 65_536

_bearer = HTTPBearer(auto_error=False, description="a Vigil API token")
_cookie = APIKeyCookie(
    name=SESSION_COOKIE, auto_error=False, description="a signed-in staff session (browsers)"
)


async def current_session(request: Request) -> SessionView | None:
    """The session behind the request's cookie, or None; resolved once per request."""
    if hasattr(request.state, "vigil_session"):
        cached: SessionView | None = request.state.vigil_session
        return cached
    view = None
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        clock: Callable[[], datetime] = request.app.state.clock
        policy: SessionPolicy = request.app.state.sessions
        resolved = await sessions.resolve(request.app.state.pool, policy, clock(), session_id)
        view = resolved.view
    request.state.vigil_session = view
    return view


async def check_csrf(request: Request, view: SessionView) -> None:
    """Refuse a state-changing request made with the cookie but without the session's token."""
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(_FORM):
        body = await request.body()  # cached by the request: the route can still read it
        if len(body) <= _FORM_MAX_BYTES:
            sent = next(iter(parse_qs(body.decode("latin-1")).get(CSRF_FIELD, [])), None)
    if sent is None or not hmac.compare_digest(sent.encode(), view.csrf_token.encode()):
        raise CsrfError("this change needs the session's CSRF token (header X-CSRF-Token)")


async def principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    cookie: Annotated[str | None, Depends(_cookie)],
) -> Principal:
    if credentials is not None and credentials.scheme.lower() == "bearer":
        clock: Callable[[], datetime] = request.app.state.clock
        pool: AsyncConnectionPool = request.app.state.pool
        found = await authenticate(pool, credentials.credentials, clock(), ANY_SUBJECT)
        if found is None:
            raise UnauthenticatedError("the token is unknown or expired")
        return found
    if cookie:
        view = await current_session(request)
        if view is None:
            raise UnauthenticatedError("the session has ended or expired: sign in again")
        await check_csrf(request, view)
        return view.principal
    raise UnauthenticatedError("a bearer token or a signed-in session is required")


async def viewer(request: Request) -> SessionView | None:
    return await current_session(request)


async def signed_in(request: Request) -> SessionView:
    view = await current_session(request)
    if view is None:
        raise UnauthenticatedError("sign in first")
    await check_csrf(request, view)
    return view


Caller = Annotated[Principal, Depends(principal)]
Viewer = Annotated[SessionView | None, Depends(viewer)]
SignedIn = Annotated[SessionView, Depends(signed_in)]


def allow(caller: Principal, roles: frozenset[str]) -> None:
    if caller.role not in roles:
        raise ForbiddenError(f"a {caller.role} cannot do this")


def sees_patient(caller: Principal, patient_id: str, team_id: str) -> bool:
    if caller.role == "patient":
        return caller.patient_id == patient_id
    return caller.role in STAFF and team_id in caller.team_ids


def check_patient(caller: Principal, patient_id: str, team_id: str | None) -> str:
    """The patient's team, if the caller may see the patient; else NotFoundError."""
    if team_id is None or not sees_patient(caller, patient_id, team_id):
        raise NotFoundError(f"no patient {patient_id}")
    return team_id


def check_team(caller: Principal, team_id: str) -> None:
    if caller.role not in STAFF or team_id not in caller.team_ids:
        raise NotFoundError(f"no care team {team_id}")


def actor(caller: Principal) -> Actor:
    return Actor(caller.staff_id, caller.role, caller.team_ids)


def pool_of(request: Request) -> AsyncConnectionPool:
    pool: AsyncConnectionPool = request.app.state.pool
    return pool


Pool = Annotated[AsyncConnectionPool, Depends(pool_of)]
