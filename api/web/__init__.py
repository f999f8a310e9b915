"""The clinician workspace (DESIGN 6): the pages nurses, doctors and admins use in a browser.

Pages of the API, served by the same FastAPI app: sign-in with a server-side session, the alert
worklist, alert detail with every action, patients ranked by risk with their charts, the roster,
in English and Chinese. Handlers here only translate between HTTP and the domains: they call the
public functions of `alerts`, `program`, `reports` and the API's query modules, render templates
and return. No domain logic in templates or handlers, and no SQL of their own (a layering test
keeps database libraries out of this package). Static assets come from the project's own
set-up (npm with a lockfile, infra/web_assets.sh), never from git or a CDN.

Public surface: `install(app)` adds the pages, the static files (/static, and the npm libraries
under /static/vendor/<package>/) and the security headers to the app.

Layout: render.py (Jinja2, the page context), i18n.py + i18n/*.json (catalogs), viewer.py (THE
seam to sign-in sessions), security.py (headers), format.py and views.py (pure), pages.py and
alert_pages.py (routes), worklist_source.py (seam to the worklist query), patient_pages.py and
roster_pages.py (the patients list, patient page and roster; their words in patient_views.py and
roster_views.py, pure; their data from api.workspace), kpi_pages.py and kpi_views.py (the
program KPIs), templates/, static/.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api.web import alert_pages, kpi_pages, pages, patient_pages, roster_pages
from api.web.render import make_web
from api.web.security import SecurityHeaders

# npm package -> its folder of browser files, served at /static/vendor/<package>/
VENDOR = {"uplot": "dist"}


def _root() -> Path:
    return Path(str(resources.files("api.web")))


def install(app: FastAPI) -> None:
    app.state.web = make_web()
    app.add_middleware(SecurityHeaders)
    for package, folder in VENDOR.items():
        directory = _root() / "node_modules" / package / folder
        files = StaticFiles(directory=directory, check_dir=False)
        app.mount(f"/static/vendor/{package}", files, name=f"vendor-{package}")
    app.mount("/static", StaticFiles(directory=_root() / "static"), name="static")
    app.include_router(pages.router)
    app.include_router(alert_pages.router)
    app.include_router(patient_pages.router)
    app.include_router(roster_pages.router)
    app.include_router(kpi_pages.router)
