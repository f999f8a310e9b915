"""The alerts websocket: authenticated at the handshake, scoped to the user's teams and tiers,
resumable, and a way to acknowledge.

Protocol (JSON text frames):

- Authenticate with `Authorization: Bearer <token>` on the upgrade request; or, from a browser
  whose Origin is one of the allowed origins, with the signed-in session's cookie
  (`vigil_session`, sent by the browser itself); or, for programs that cannot set headers, with
  a first message `{"type": "auth", "token": "...", "after": N}` within 5 s. Never in the query
  string. A browser's Origin must be one of the allowed origins or the app's own (the
  workspace's pages). Only staff have a feed: a patient's or a device's token is refused
  (close 4403). A session cookie that no longer
  resolves closes the socket at once: 4440 when the session idled out, expired or its account
  was disabled, 4401 when it is unknown or signed out.
- A session-authenticated socket is re-checked every `SessionPolicy.ws_check_s`: once the
  session has ended (signed out, disabled, password changed, idle, absolute expiry) the socket
  closes with 4440. The open socket itself does not count as use of the session.
- The server says `{"type": "hello", "staff_id", "role", "teams", "tiers", "after"}` and then
  sends every alert event the user may see with `seq` greater than `after` (from `?after=N` or
  the auth message), oldest first, then live events as they happen:
  `{"type": "alert_event", "seq", "kind", "tier", "alert_id", "patient_id", ...}`. A user sees
  the events of their care teams' patients whose alert is, after the event, at a tier their role
  watches: nurse 2 and 3, doctor 3, admin all. `seq` only grows; a client that reconnects with
  the last seq it saw misses nothing and sees nothing twice.
- Acknowledge: the client sends `{"type": "ack", "alert_id": "<uuid>", "ref": <anything>}`; the
  server answers `{"type": "ack_result", "ref", "ok": true, "alert": {...}}` or
  `{"type": "error", "ref", "code", "message"}` (codes: alert_not_found — also for another
  team's alert —, action_refused, invalid_action, invalid_message, unknown_type, unavailable,
  internal_error). The `acknowledged` event then arrives on the feed like any other. A malformed
  message is answered with an error frame; the connection stays open.
- Close codes: 4401 not authenticated, 4403 origin or role not allowed, 4408 too slow (the
  per-connection queue overflowed: reconnect and resume), 4440 token or session expired; 1009
  (by uvicorn, before the message is buffered) when a client message exceeds the server's
  `api.ws_max_message_bytes` (64 KiB; one over 4 KiB is answered `invalid_message`).

Must not: filter events itself (api.feed scopes them) or write alerts (alerts.response does).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from psycopg_pool import AsyncConnectionPool

from alerts.actions import Acknowledge, ActionError, Actor
from alerts.response import PgResponse
from api import _ws_protocol as proto
from api import sessions
from api.auth import ANY_SUBJECT, Principal, authenticate, bearer_token
from api.feed import EXPIRED, GONE, TOO_SLOW, AlertFeed, Scope, Subscription
from ingest.retry import describe, frames

log = logging.getLogger(__name__)
router = APIRouter()

AUTH_TIMEOUT_S = 5.0
BACKLOG_PAGE = 500
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_TOO_SLOW = 4408
CLOSE_EXPIRED = 4440
CLOSE_WAIT_S = 10.0


class _RefusedError(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@router.websocket("/ws/alerts")
async def alerts_socket(ws: WebSocket) -> None:
    state = ws.app.state
    pool: AsyncConnectionPool = state.pool
    clock: Callable[[], datetime] = state.clock
    origin = ws.headers.get("origin")
    if origin is not None and not _origin_allowed(origin, ws.headers.get("host"), state):
        await ws.close(code=CLOSE_FORBIDDEN, reason="origin not allowed")
        return
    header_token = bearer_token(ws.headers.get("authorization"))
    principal = None
    if header_token is not None:
        principal = await authenticate(pool, header_token, clock(), ANY_SUBJECT)
        if principal is None:  # refuse the handshake itself
            await ws.close(code=CLOSE_UNAUTHENTICATED, reason="invalid or expired token")
            return
    # A cookie counts only from an allowed Origin (a browser on one of our pages).
    session_id = ws.cookies.get(sessions.SESSION_COOKIE) if origin and not principal else None
    await ws.accept()
    with contextlib.suppress(WebSocketDisconnect):  # the client went away: nothing to answer
        try:
            if session_id:
                principal = await _session_principal(ws, session_id)
            principal, after = await _finish_auth(ws, pool, clock, principal)
            scope = Scope.of_role(principal.role, principal.team_ids)
            if scope is None:
                raise _RefusedError(CLOSE_FORBIDDEN, "the alert feed is for staff")
            await _serve(ws, state.feed, principal, scope, after, session_id)
        except _RefusedError as refused:
            await ws.close(code=refused.code, reason=refused.reason)


def _origin_allowed(origin: str, host: str | None, state: Any) -> bool:
    """A configured origin, or the page's own (the workspace served by this app)."""
    same = host is not None and origin in (f"http://{host}", f"https://{host}")
    return same or origin in state.allowed_origins


async def _session_principal(ws: WebSocket, session_id: str) -> Principal:
    state = ws.app.state
    resolved = await sessions.resolve(state.pool, state.sessions, state.clock(), session_id)
    if resolved.view is not None:
        return resolved.view.principal
    if resolved.state == "unknown":
        raise _RefusedError(CLOSE_UNAUTHENTICATED, "not signed in")
    raise _RefusedError(CLOSE_EXPIRED, "session expired")


def _after(value: Any) -> int:
    try:
        after = int(value)
    except (TypeError, ValueError):
        raise _RefusedError(1008, "after must be an integer") from None
    if after < 0:
        raise _RefusedError(1008, "after must be >= 0")
    return after


async def _finish_auth(
    ws: WebSocket,
    pool: AsyncConnectionPool,
    clock: Callable[[], datetime],
    principal: Principal | None,
) -> tuple[Principal, int]:
    after = _after(ws.query_params.get("after", 0))
    if principal is not None:
        return principal, after
    try:
        first = await asyncio.wait_for(ws.receive_json(), AUTH_TIMEOUT_S)
    except (TimeoutError, ValueError, KeyError):
        raise _RefusedError(CLOSE_UNAUTHENTICATED, "expected an auth message") from None
    token = first.get("token") if isinstance(first, dict) and first.get("type") == "auth" else None
    if not isinstance(token, str):
        raise _RefusedError(CLOSE_UNAUTHENTICATED, "expected an auth message")
    principal = await authenticate(pool, token, clock(), ANY_SUBJECT)
    if principal is None:
        raise _RefusedError(CLOSE_UNAUTHENTICATED, "invalid or expired token")
    return principal, _after(first.get("after", after))


_CLOSES = {TOO_SLOW: (CLOSE_TOO_SLOW, "too slow; reconnect with ?after=<last seq>"),
           EXPIRED: (CLOSE_EXPIRED, "token or session expired")}  # fmt: skip


async def _serve(
    ws: WebSocket,
    feed: AlertFeed,
    principal: Principal,
    scope: Scope,
    after: int,
    session_id: str | None = None,
) -> None:
    """Send until the subscription ends. The sender runs as a task of its own: a client that
    stops reading blocks it inside a send, and the cut-off must not wait for that send."""
    state = ws.app.state
    sub = feed.subscribe(scope)  # before the backlog query: no gap in between
    remaining = (principal.expires_at - state.clock()).total_seconds()
    expiry = asyncio.get_running_loop().call_later(max(remaining, 0), sub.end, EXPIRED)
    hello = proto.hello(principal.staff_id, principal.role, scope.team_ids, scope.tiers, after)
    sender = asyncio.create_task(_send(ws, feed, sub, hello, after))
    reader = asyncio.create_task(_read_client(ws, sub, principal, state.response))
    ended = asyncio.create_task(sub.ended.wait())
    tasks = [sender, reader, ended]
    if session_id is not None:
        tasks.append(asyncio.create_task(_watch_session(ws, session_id, sub)))
    try:
        await asyncio.wait({sender, ended}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        expiry.cancel()
        feed.unsubscribe(sub)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if sender.done() and not sender.cancelled() and sender.exception() is not None:
        raise sender.exception()  # type: ignore[misc]
    if sub.reason in _CLOSES:
        code, reason = _CLOSES[sub.reason]
        # A stuck client cannot take the close frame either; don't wait for it forever.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ws.close(code=code, reason=reason), CLOSE_WAIT_S)


async def _watch_session(ws: WebSocket, session_id: str, sub: Subscription) -> None:
    """End the subscription (close 4440) once the session no longer resolves. A failed check
    (the database briefly away) is logged and retried at the next period."""
    state = ws.app.state
    policy = state.sessions
    while True:
        await asyncio.sleep(policy.ws_check_s)
        try:
            resolved = await sessions.resolve(
                state.pool, policy, state.clock(), session_id, touch=False
            )
        except Exception as exc:
            log.warning("checking a websocket's session failed (%s)", describe(exc))
            continue
        if resolved.view is None:
            sub.end(EXPIRED)
            return


async def _send(ws: WebSocket, feed: AlertFeed, sub: Subscription, hello: str, after: int) -> None:
    """The connection's only writer: hello, the backlog, then feed events and replies in order."""
    await ws.send_text(hello)
    last = after
    while True:
        events = await feed.backlog(sub.scope, last, BACKLOG_PAGE)
        for event in events:
            await ws.send_text(event.text)
            last = event.seq
        if len(events) < BACKLOG_PAGE:
            break
    while True:
        await sub.wake.wait()
        for seq, text in sub.take():
            if seq == 0 or seq > last:  # a reply, or an event the backlog did not send
                await ws.send_text(text)
                last = max(last, seq)


async def _read_client(
    ws: WebSocket, sub: Subscription, principal: Principal, response: PgResponse | None
) -> None:
    """Answer client messages (acks) until the client disconnects; replies go through the
    subscription so that the sender stays the socket's only writer."""
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            request = proto.parse_client(message.get("text") or message.get("bytes"))
            sub.reply(await _answer(request, principal, response))
    finally:
        sub.end(GONE)


async def _answer(
    request: proto.AckRequest | proto.BadRequest, principal: Principal, response: PgResponse | None
) -> str:
    if isinstance(request, proto.BadRequest):
        return proto.error(request.ref, request.code, request.message)
    if response is None:
        return proto.error(request.ref, "unavailable", "alert actions are not served here")
    actor = Actor(principal.staff_id, principal.role, principal.team_ids)
    try:
        alert = await response.act(request.alert_id, Acknowledge(), actor)
    except ActionError as e:
        return proto.error(request.ref, e.code, str(e))
    except Exception as exc:  # answered on the socket; logged without its text (it can quote PHI)
        log.error("acknowledging over the websocket failed (%s)\n%s", describe(exc), frames(exc))
        return proto.error(request.ref, "internal_error", "the acknowledgement was not recorded")
    return proto.ack_result(request.ref, alert)
