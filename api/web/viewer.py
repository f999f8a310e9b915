"""THE SEAM between the pages and sign-in: who is looking at a page.

`current(request)` answers the signed-in person as a `Viewer` (principal, CSRF token, display
name, locale, time zone) or None. Every page handler gets its viewer from here and nowhere else,
so switching the session backend is a change to this one module.

The session behind the `vigil_session` cookie comes from api.access.current_session (api.sessions
keeps sessions in PostgreSQL); its name, locale and time zone are the staff member's own.

Must not: check what the viewer may do (api.access does) or render anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from api.access import current_session
from api.auth import Principal
from api.sessions import SessionView
from api.web.format import zone
from api.web.i18n import locale_of

LANG_COOKIE = "vigil_lang"  # the language chosen before signing in (sign-in page switch)


@dataclass(frozen=True, slots=True)
class Viewer:
    principal: Principal
    csrf: str  # sent back by the page scripts in the X-CSRF-Token header
    display_name: str
    locale: str  # one of api.web.i18n.LOCALES
    tz: str  # IANA zone the viewer reads times in

    @property
    def staff_id(self) -> str:
        return self.principal.staff_id

    @property
    def role(self) -> str:
        return self.principal.role


async def current(request: Request) -> Viewer | None:
    view = await current_session(request)
    return None if view is None else of_session(view)


def of_session(view: SessionView) -> Viewer:
    tz = view.time_zone if zone(view.time_zone).key == view.time_zone else "UTC"
    return Viewer(view.principal, view.csrf_token, view.name, locale_of(view.locale), tz)


def anonymous_locale(request: Request) -> str:
    """The language of a page shown before sign-in: the switch's cookie, else the browser's."""
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen:
        return locale_of(chosen)
    accept = request.headers.get("accept-language", "")
    return locale_of(accept.split(",")[0].split(";")[0])
