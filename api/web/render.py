"""Rendering a page: the Jinja2 environment (autoescaped, templates from api/web/templates) and
the context every template gets.

Every page template extends `base.html` and receives: `t` (the viewer's catalog: `t("key")`,
`t.title(rule_id, stored)`), `viewer` (api.web.viewer.Viewer or None), `locale`, `lang_tag`,
`csrf` (the viewer's CSRF token, also on <body data-csrf>), `scripts_strings` (the `js.*`
strings for the page scripts), `fmt` (api.web.format) and `now` (the app clock's instant).

Must not: fetch data or decide anything about it (handlers pass ready values in).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from api.web import format as fmt
from api.web.i18n import LANG_TAGS, Catalog, catalogs
from api.web.viewer import Viewer


@dataclass(frozen=True, slots=True)
class Web:
    """The workspace's state on the app (`app.state.web`), built once by api.web.install."""

    env: jinja2.Environment
    catalogs: dict[str, Catalog]


def make_web() -> Web:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("api.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return Web(env, catalogs())


def web_of(request: Request) -> Web:
    web: Web = request.app.state.web
    return web


def catalog(request: Request, locale: str) -> Catalog:
    return web_of(request).catalogs[locale]


def page(
    request: Request,
    template: str,
    locale: str,
    viewer: Viewer | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """The rendered page, never cached (pages carry PHI and a CSRF token)."""
    html = fragment(request, template, locale, viewer, **context)
    headers = {"cache-control": "no-store"}
    return HTMLResponse(html, status_code=status_code, headers=headers)


def fragment(
    request: Request, template: str, locale: str, viewer: Viewer | None, **context: Any
) -> str:
    web = web_of(request)
    clock: Callable[[], datetime] = request.app.state.clock
    t = web.catalogs[locale]
    return web.env.get_template(template).render(
        t=t,
        viewer=viewer,
        locale=locale,
        lang_tag=LANG_TAGS[locale],
        csrf=viewer.csrf if viewer else "",
        scripts_strings=t.for_scripts(),
        fmt=fmt,
        now=clock(),
        **context,
    )
