"""The clinician workspace (DESIGN 6): the pages nurses, doctors and admins use in a browser.

Pages of the API, served by the same FastAPI app: sign-in with a server-side session, the alert
worklist, alert detail with every action, patients ranked by risk with their charts, the roster,
in English and Chinese. Handlers here only translate between HTTP and the domains: they call the
public functions of `alerts`, `program`, `reports` and the API's query modules, render templates
and return. No domain logic in templates or handlers, and no SQL of their own (a layering test
keeps database libraries out of this package). Static assets come from the project's own
set-up (npm with a lockfile), never from git or a CDN.

Nothing is public yet: the package is the room the workspace issue moves into.
"""
