"""Staff passwords: argon2id through argon2-cffi's `PasswordHasher` with its default parameters.

`hash_password` makes a PHC string to store; `check` verifies one and says whether it should be
re-hashed (the library's defaults moved on since it was stored); `waste_time` verifies against a
dummy hash so that a sign-in for an unknown, disabled or locked account costs about as much as a
real one (no timing oracle for which logins exist).

Must not: store, log or compare passwords any other way, or run on the event loop (callers run
these CPU-bound calls in a thread).
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 8
MAX_LENGTH = 1024  # hashing a megabyte per attempt is a denial of service, not a password

_hasher = PasswordHasher()


@dataclass(frozen=True, slots=True)
class Checked:
    ok: bool
    rehash: str | None = None  # a new hash to store, when the parameters changed


class WeakPasswordError(ValueError):
    """A password refused before hashing (too short or too long)."""


def acceptable(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPasswordError(f"a password has at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPasswordError(f"a password has at most {MAX_LENGTH} characters")


def hash_password(password: str) -> str:
    acceptable(password)
    return _hasher.hash(password)


def check(stored: str, password: str) -> Checked:
    if len(password) > MAX_LENGTH:
        waste_time(password[:MAX_LENGTH])
        return Checked(False)
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return Checked(False)
    return Checked(True, _hasher.hash(password) if _hasher.check_needs_rehash(stored) else None)


@functools.cache
def _dummy() -> str:
    return _hasher.hash("not anyone's password")


def waste_time(password: str) -> None:
    """As long as a real verification, and always a refusal."""
    with_dummy = _dummy()
    with contextlib.suppress(VerificationError, InvalidHashError):
        _hasher.verify(with_dummy, password[:MAX_LENGTH])
