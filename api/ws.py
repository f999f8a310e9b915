"""The alerts websocket: authenticated at the handshake, scoped to the user's teams, resumable.

Protocol (JSON text frames):

- Authenticate with `Authorization: Bearer <token>` on the upgrade request, or, for browsers
  that cannot set headers, with a first message `{"type": "auth", "token": "..."}` within 5 s.
  Never in the query string. A browser's Origin must be one of the allowed origins.
- The server says `{"type": "hello", "staff_id", "teams", "after"}` and then sends every alert
  event the user may see with `seq` greater than `after` (from `?after=N` or the auth message),
  oldest first, then live events as they happen: `{"type": "alert_event", "seq", ...}`. `seq`
  only grows; a client that reconnects with the last seq it saw misses nothing and sees nothing
  twice.
- Close codes: 4401 not authenticated, 4403 origin not allowed, 4408 too slow (the per-connection
  queue overflowed: reconnect and resume), 4440 token expired.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from psycopg_pool import AsyncConnectionPool

from api.auth import Principal, authenticate, bearer_token
from api.feed import AlertFeed, Subscription

router = APIRouter()

AUTH_TIMEOUT_S = 5.0
BACKLOG_PAGE = 500
CLOSE_UNAUTHENTICATED = 4401
CLOSE_ORIGIN = 4403
CLOSE_TOO_SLOW = 4408
CLOSE_EXPIRED = 4440


class _RefusedError(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@router.websocket("/ws/alerts")
async def alerts_socket(ws: WebSocket) -> None:
    state = ws.app.state
    pool: AsyncConnectionPool = state.pool
    feed: AlertFeed = state.feed
    clock: Callable[[], datetime] = state.clock
    origin = ws.headers.get("origin")
    if origin is not None and origin not in state.allowed_origins:
        await ws.close(code=CLOSE_ORIGIN, reason="origin not allowed")
        return
    header_token = bearer_token(ws.headers.get("authorization"))
    principal = None
    if header_token is not None:
        principal = await authenticate(pool, header_token, clock())
        if principal is None:  # refuse the handshake itself
            await ws.close(code=CLOSE_UNAUTHENTICATED, reason="invalid or expired token")
            return
    await ws.accept()
    with contextlib.suppress(WebSocketDisconnect):  # the client went away: nothing to answer
        try:
            principal, after = await _finish_auth(ws, pool, clock, principal)
            await _serve(ws, feed, principal, after, clock)
        except _RefusedError as refused:
            await ws.close(code=refused.code, reason=refused.reason)


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
    except (TimeoutError, ValueError):
        raise _RefusedError(CLOSE_UNAUTHENTICATED, "expected an auth message") from None
    token = first.get("token") if isinstance(first, dict) and first.get("type") == "auth" else None
    if not isinstance(token, str):
        raise _RefusedError(CLOSE_UNAUTHENTICATED, "expected an auth message")
    principal = await authenticate(pool, token, clock())
    if principal is None:
        raise _RefusedError(CLOSE_UNAUTHENTICATED, "invalid or expired token")
    return principal, _after(first.get("after", after))


async def _serve(
    ws: WebSocket,
    feed: AlertFeed,
    principal: Principal,
    after: int,
    clock: Callable[[], datetime],
) -> None:
    sub = feed.subscribe(principal.team_ids)  # before the backlog query: no gap in between
    try:
        await ws.send_json(
            {
                "type": "hello",
                "staff_id": principal.staff_id,
                "teams": sorted(principal.team_ids),
                "after": after,
            }
        )
        last = await _send_backlog(ws, feed, principal, after)
        reader = asyncio.create_task(_read_client(ws))
        try:
            await _send_live(ws, sub, principal, last, clock, reader)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
                await reader
    finally:
        feed.unsubscribe(sub)


async def _send_backlog(ws: WebSocket, feed: AlertFeed, principal: Principal, after: int) -> int:
    last = after
    while True:
        events = await feed.backlog(principal.team_ids, last, BACKLOG_PAGE)
        for event in events:
            await ws.send_json(event.message)
            last = event.seq
        if len(events) < BACKLOG_PAGE:
            return last


async def _send_live(
    ws: WebSocket,
    sub: Subscription,
    principal: Principal,
    last: int,
    clock: Callable[[], datetime],
    reader: asyncio.Task[None],
) -> None:
    overflow = asyncio.create_task(sub.overflowed.wait())
    try:
        while True:
            remaining = (principal.expires_at - clock()).total_seconds()
            if remaining <= 0:
                raise _RefusedError(CLOSE_EXPIRED, "token expired")
            getter = asyncio.create_task(sub.queue.get())
            done, _ = await asyncio.wait(
                {getter, overflow, reader}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
            )
            if getter not in done:
                getter.cancel()
            if reader in done:
                return  # the client went away
            if overflow in done:
                raise _RefusedError(CLOSE_TOO_SLOW, "too slow; reconnect with ?after=<last seq>")
            if getter in done:
                event = getter.result()
                if event.seq > last:  # the backlog may already have sent it
                    await ws.send_json(event.message)
                    last = event.seq
    finally:
        overflow.cancel()


async def _read_client(ws: WebSocket) -> None:
    """Consume client messages until it disconnects (acks over the socket come with issue 4)."""
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return
