"""The workspace's page routes that are not about one alert: sign-in, the language switch and
the worklist (with the row fragment its script fetches for live updates).

A page for a signed-out visitor redirects to /signin with `next` (a local path, never data).

Must not: hold domain logic (the domains and api.web.views decide) or SQL (api.web imports no
database library; rows come from api.web.worklist_source).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.feed import ROLE_TIERS
from api.web import views
from api.web import worklist_source as source
from api.web.i18n import LOCALES
from api.web.render import catalog, fragment, page
from api.web.viewer import LANG_COOKIE, Viewer, anonymous_locale, current

router = APIRouter(include_in_schema=False)

LANGUAGES = [("en", "English"), ("zh", "简体中文")]
# api.routes.session answers every refused sign-in alike (`error=1`): wrong password, unknown
# login, locked or disabled account are one message on purpose
SIGNIN_ERRORS = {"1": "invalid", "expired": "expired"}


def local_path(path: str | None) -> str:
    """`path` if it is a path on this site, else "/" (no open redirect via `next`)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path


def to_signin(request: Request) -> RedirectResponse:
    nxt = request.url.path
    return RedirectResponse(f"/signin?next={nxt}", status_code=303)


@router.get("/signin", response_class=HTMLResponse)
async def signin(request: Request, next: str = "/", error: str | None = None) -> Response:
    if await current(request) is not None:
        return RedirectResponse(local_path(next), status_code=303)  # signed in already
    locale = anonymous_locale(request)
    t = catalog(request, locale)
    message = t(f"signin.error.{SIGNIN_ERRORS[error]}") if error in SIGNIN_ERRORS else None
    return page(request, "signin.html", locale, None, next=local_path(next), error=message,
                languages=LANGUAGES)  # fmt: skip


@router.get("/lang/{code}")
async def switch_language(code: str, next: str = "/signin") -> RedirectResponse:
    """The sign-in page's language switch: a preference cookie (not PHI, not a session)."""
    response = RedirectResponse(local_path(next), status_code=303)
    if code in LOCALES:
        response.set_cookie(LANG_COOKIE, code, max_age=365 * 86400, samesite="lax",
                            httponly=True, path="/")  # fmt: skip
    return response


@router.get("/live")
async def old_live_page() -> RedirectResponse:
    return RedirectResponse("/", status_code=308)


def filters(
    team: str = "", tier: str = "", severity: str = "", mine: bool = False
) -> source.Filters:
    """The worklist's filters from its form (an empty field, or one out of range, is "all")."""
    return source.Filters.parse(team, tier, severity, mine)


Filters = Annotated[source.Filters, Depends(filters)]


@router.get("/", response_class=HTMLResponse)
async def worklist(request: Request, f: Filters) -> Response:
    viewer = await current(request)
    if viewer is None:
        return to_signin(request)
    now = request.app.state.clock()
    seq, raw = await source.load(request.app.state.pool, viewer, f, now)
    t = catalog(request, viewer.locale)
    return page(request, "worklist.html", viewer.locale, viewer, active_nav="nav.worklist",
                rows=views.rows(raw, t, viewer.tz, viewer.staff_id, now, role=viewer.role),
                seq=seq, filters=f,
                teams=await source.team_names(request.app.state.pool, viewer),
                tiers=_tiers(viewer), severities=list(views.SEVERITY_RANK))  # fmt: skip


def _tiers(viewer: Viewer) -> list[int]:
    return sorted(ROLE_TIERS.get(viewer.role, ()))


@router.get("/worklist/rows/{alert_id}")
async def worklist_row(request: Request, alert_id: uuid.UUID, f: Filters) -> Response:
    """One row of the worklist as HTML (`<tr>`), or 204 when it does not belong there (any
    more): the script replaces, adds or removes the row accordingly."""
    viewer = await current(request)
    if viewer is None:
        return Response(status_code=401)
    now = request.app.state.clock()
    raw = await source.one(request.app.state.pool, viewer, alert_id, f, now)
    if raw is None:
        return Response(status_code=204, headers={"cache-control": "no-store"})
    t = catalog(request, viewer.locale)
    r = views.row(raw, t, viewer.tz, viewer.staff_id, now, role=viewer.role)
    html = fragment(request, "worklist_row.html", viewer.locale, viewer, r=r)
    return HTMLResponse(html, headers={"cache-control": "no-store"})
