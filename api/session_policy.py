"""The rules of staff sessions and sign-in lockout, pure (every function takes `now`).

- A session lives until its absolute expiry (`absolute_s` after sign-in) and ends earlier when
  unused for `idle_s` (measured from its last recorded use, which is refreshed at most every
  `touch_every_s`: a session may outlive its idle limit by that much).
- Sign-in lockout: `max_failures` consecutive wrong passwords lock the account for
  `lockout_s`, doubled on every further lockout (15 min, 30 min, 1 h, ... capped at
  `lockout_max_s`). While locked, every sign-in is refused with the same generic answer as a
  wrong password, and the password is not even checked (a locked account is no oracle).
  A successful sign-in clears the failures and the lockout count.

Must not: do I/O or read a clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

SessionState = Literal["ok", "idle", "expired"]


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    idle_s: float = 1800.0
    absolute_s: float = 43_200.0
    touch_every_s: float = 30.0
    max_failures: int = 5
    lockout_s: float = 900.0
    lockout_max_s: float = 86_400.0
    secure_cookie: bool = False  # TLS is terminated in front: always mark the cookie Secure
    ws_check_s: float = 30.0  # how often an open websocket re-checks its session

    def __post_init__(self) -> None:
        if not 0 < self.idle_s <= self.absolute_s:
            raise ValueError("session idle time must be positive and at most the absolute one")
        if self.max_failures < 1 or self.lockout_s <= 0:
            raise ValueError("lockout needs max_failures >= 1 and a positive duration")


def session_state(
    policy: SessionPolicy, now: datetime, last_seen_at: datetime, expires_at: datetime
) -> SessionState:
    if now >= expires_at:
        return "expired"
    if now >= last_seen_at + timedelta(seconds=policy.idle_s):
        return "idle"
    return "ok"


def needs_touch(policy: SessionPolicy, now: datetime, last_seen_at: datetime) -> bool:
    return now - last_seen_at >= timedelta(seconds=policy.touch_every_s)


@dataclass(frozen=True, slots=True)
class Failures:
    failed_attempts: int
    lockouts: int
    locked_until: datetime | None

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until


def after_failure(policy: SessionPolicy, now: datetime, before: Failures) -> Failures:
    """The counters after one more wrong password; a lockout starts on the `max_failures`th."""
    failed = before.failed_attempts + 1
    if failed < policy.max_failures:
        return Failures(failed, before.lockouts, before.locked_until)
    seconds = min(policy.lockout_s * 2**before.lockouts, policy.lockout_max_s)
    return Failures(0, before.lockouts + 1, now + timedelta(seconds=seconds))


CLEARED = Failures(0, 0, None)

_SAFE_NEXT = re.compile(r"/(?![/\\])[A-Za-z0-9._~!$&'()*+,;=:@%/?#-]*")


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site, never another site ('//evil',
    '/\\evil', 'https://...'), else '/'."""
    if target and len(target) <= 2000 and _SAFE_NEXT.fullmatch(target):
        return target
    return "/"


LOGIN = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


def valid_login(login: str) -> bool:
    return LOGIN.fullmatch(login) is not None
