"""Security headers on every HTTP response of the app (pages, REST, health, errors): one
Content-Security-Policy for all of it that allows our own scripts only (no inline script, no
event-handler attributes, no CDN), no framing (`frame-ancestors 'none'`, and X-Frame-Options for
older browsers), no MIME sniffing, no referrer leaving the site, no caching of answers that can
carry PHI, and HSTS when the app is reached over TLS.

The referrer policy is `same-origin`, not `no-referrer`: with no-referrer a browser sends
`Origin: null` on our own form posts, which the sign-in's login-CSRF check rightly refuses.

The policy's connect-src names the websocket origin of the request's own host explicitly
(`'self'` covers ws: only in CSP level 3 browsers).

`Cache-Control: no-store` goes on every answer but the static assets (/static: our scripts,
styles and the npm libraries, which hold no PHI), unless the route chose its own: REST answers,
pages and their fragments name patients, and neither a browser nor a shared proxy may keep
them. HSTS (`max-age` one year) is sent only when the request came over https (uvicorn with TLS,
or a trusted proxy's X-Forwarded-Proto) or the settings say a proxy in front terminates TLS
(`api.tls_terminated`, which also marks the session cookie Secure): over plain http a browser
ignores it, and a local http deployment must not be told to insist on https.

Must not: authenticate or change a response's body (a pure ASGI wrapper of the headers).
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_BASE = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'; connect-src 'self'"
)
_FIXED = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]
NO_STORE = (b"cache-control", b"no-store")
HSTS = (b"strict-transport-security", b"max-age=31536000")
CACHEABLE_PREFIX = "/static/"


def policy(host: str | None) -> str:
    if not host or any(c in host for c in " ;,'\"\r\n"):
        return _BASE
    return f"{_BASE} ws://{host} wss://{host}"


def extra_headers(
    path: str, over_tls: bool, present: list[tuple[bytes, bytes]]
) -> list[tuple[bytes, bytes]]:
    """What to add besides the CSP and the fixed headers, given the headers already set."""
    added = []
    has_cache_control = any(name.lower() == b"cache-control" for name, _ in present)
    if not path.startswith(CACHEABLE_PREFIX) and not has_cache_control:
        added.append(NO_STORE)
    if over_tls:
        added.append(HSTS)
    return added


def _over_tls(scope: Scope) -> bool:
    if scope.get("scheme") == "https":
        return True
    app: Any = scope.get("app")
    sessions = getattr(getattr(app, "state", None), "sessions", None)
    return bool(getattr(sessions, "secure_cookie", False))  # api.tls_terminated


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = dict(scope["headers"]).get(b"host", b"").decode("latin-1") or None
        csp = (b"content-security-policy", policy(host).encode("latin-1"))
        path, over_tls = str(scope.get("path", "")), _over_tls(scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = list(message.get("headers", []))
                more = extra_headers(path, over_tls, present)
                message["headers"] = [*present, csp, *_FIXED, *more]
            await send(message)

        await self.app(scope, receive, send_with_headers)
