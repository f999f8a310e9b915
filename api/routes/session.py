"""Sign-in, sign-out and "who am I" for people (browsers), outside /api/v1:

- `POST /auth/signin`: form fields (or a JSON object) `login`, `password`, optional `next` (a
  path on this site). Signed in: cookie `vigil_session` (HttpOnly, SameSite=Strict, Path=/,
  Secure over https or when TLS is terminated in front) and 303 to `next` or `/`; refused: 303
  to `/signin?error=1`. A caller that accepts `application/json` gets 200 with the session view,
  or 401 `signin_failed`, instead of redirects. One refusal for every reason.
- `POST /auth/signout`: ends the session server-side (CSRF-checked when the session is still
  open), clears the cookie, 303 to `/signin` (JSON: 200 `{"signed_out": bool}`).
- `GET /auth/me`: the session view as JSON (401 without a session).

Must not: decide who may sign in (api.sessions does) or render pages (api.web does).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from api import sessions
from api.access import check_csrf, current_session
from api.error_handlers import error_response
from api.errors import ForbiddenError, UnauthenticatedError
from api.session_policy import SessionPolicy, safe_next
from api.sessions import SESSION_COOKIE, SessionView

router = APIRouter(prefix="/auth", tags=["session"])

_BODY_MAX = 16_384
_REFUSED = "wrong login or password, or the account is locked or disabled"


def session_json(view: SessionView) -> dict[str, Any]:
    return {
        "staff_id": view.staff_id,
        "login": view.login,
        "name": view.name,
        "role": view.role,
        "teams": sorted(view.team_ids),
        "locale": view.locale,
        "time_zone": view.time_zone,
        "csrf_token": view.csrf_token,
        "expires_at": view.expires_at.isoformat(),
    }


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept or _is_json(request)


def _is_json(request: Request) -> bool:
    return request.headers.get("content-type", "").startswith("application/json")


async def _fields(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > _BODY_MAX:
        return {}
    if _is_json(request):
        try:
            parsed = json.loads(body or b"{}")
        except ValueError:
            return {}
        items = parsed.items() if isinstance(parsed, dict) else ()
        return {k: v for k, v in items if isinstance(v, str)}
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}


def _check_origin(request: Request) -> None:
    """No signing a browser in from another site (login CSRF): a stated Origin must be ours."""
    origin = request.headers.get("origin")
    own = f"{request.url.scheme}://{request.url.netloc}"
    if origin is not None and origin != own and origin not in request.app.state.allowed_origins:
        raise ForbiddenError("sign-in from another site is not accepted")


def _secure(request: Request) -> bool:
    policy: SessionPolicy = request.app.state.sessions
    return policy.secure_cookie or request.url.scheme == "https"


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/signin", summary="Sign in with a login and a password")
async def signin(request: Request) -> Response:
    _check_origin(request)
    fields = await _fields(request)
    clock: Callable[[], datetime] = request.app.state.clock
    policy: SessionPolicy = request.app.state.sessions
    done = await sessions.sign_in(request.app.state.pool, policy, clock(),
                                  fields.get("login", ""), fields.get("password", ""))  # fmt: skip
    target = safe_next(fields.get("next"))
    if done is None:
        if _wants_json(request):
            return _no_store(error_response(401, "signin_failed", _REFUSED))
        query = {"error": "1"} | ({"next": target} if target != "/" else {})
        return _no_store(RedirectResponse(f"/signin?{urlencode(query)}", status_code=303))
    response: Response = (
        JSONResponse({"session": session_json(done.view)})
        if _wants_json(request)
        else RedirectResponse(target, status_code=303)
    )
    response.set_cookie(SESSION_COOKIE, done.session_id, max_age=int(policy.absolute_s),
                        path="/", secure=_secure(request), httponly=True,
                        samesite="strict")  # fmt: skip
    return _no_store(response)


@router.post("/signout", summary="End the session and clear its cookie")
async def signout(request: Request) -> Response:
    view = await current_session(request)
    ended = False
    if view is not None:
        await check_csrf(request, view)
        clock: Callable[[], datetime] = request.app.state.clock
        session_id = request.cookies.get(SESSION_COOKIE, "")
        ended = await sessions.sign_out(request.app.state.pool, clock(), session_id)
    response: Response = (
        JSONResponse({"signed_out": ended})
        if _wants_json(request)
        else RedirectResponse("/signin", status_code=303)
    )
    response.delete_cookie(SESSION_COOKIE, path="/", secure=_secure(request), httponly=True,
                           samesite="strict")  # fmt: skip
    return _no_store(response)


@router.get("/me", summary="The signed-in person, their preferences and CSRF token")
async def me(request: Request) -> Response:
    view = await current_session(request)
    if view is None:
        raise UnauthenticatedError("sign in first")
    return _no_store(JSONResponse(session_json(view)))
