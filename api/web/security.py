"""Security headers on every HTTP response of the app: a Content-Security-Policy that allows our
own scripts only (no inline script, no event-handler attributes, no CDN), no framing, no MIME
sniffing, no referrer leaving the site.

The referrer policy is `same-origin`, not `no-referrer`: with no-referrer a browser sends
`Origin: null` on our own form posts, which the sign-in's login-CSRF check rightly refuses.

The policy's connect-src names the websocket origin of the request's own host explicitly
(`'self'` covers ws: only in CSP level 3 browsers).

Must not: authenticate or change a response's body (a pure ASGI wrapper of the headers).
"""

from __future__ import annotations

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


def policy(host: str | None) -> str:
    if not host or any(c in host for c in " ;,'\"\r\n"):
        return _BASE
    return f"{_BASE} ws://{host} wss://{host}"


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = dict(scope["headers"]).get(b"host", b"").decode("latin-1") or None
        csp = (b"content-security-policy", policy(host).encode("latin-1"))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), csp, *_FIXED]
            await send(message)

        await self.app(scope, receive, send_with_headers)
