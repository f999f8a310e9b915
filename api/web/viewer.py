"""THE SEAM between the pages and sign-in: who is looking at a page.

`current(request)` answers the signed-in person as a `Viewer` (principal, CSRF token, display
name, locale, time zone) or None. Every page handler gets its viewer from here and nowhere else,
so switching the session backend is a change to this one module.

INTERIM (until the `auth` branch's sessions land): the `vigil_session` cookie is read as an API
bearer token (api.auth), the locale comes from the `vigil_lang` cookie and the zone is UTC.

Must not: check what the viewer may do (api.access does) or render anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from fastapi import Request

from api.auth import STAFF_ONLY, Principal, authenticate
from api.web.i18n import locale_of

SESSION_COOKIE = "vigil_session"
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
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    clock: Callable[[], datetime] = request.app.state.clock
    principal = await authenticate(request.app.state.pool, token, clock(), STAFF_ONLY)
    if principal is None:
        return None
    locale = locale_of(request.cookies.get(LANG_COOKIE))
    return Viewer(principal, "", principal.staff_id, locale, "UTC")


def anonymous_locale(request: Request) -> str:
    """The language of a page shown before sign-in: the switch's cookie, else the browser's."""
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen:
        return locale_of(chosen)
    accept = request.headers.get("accept-language", "")
    return locale_of(accept.split(",")[0].split(";")[0])
