"""The pure rules of staff sessions (api.session_policy) and the password wrapper
(api.passwords): idle and absolute expiry, lockout and its doubling, safe redirects, logins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher

from api import passwords
from api.session_policy import (
    CLEARED,
    Failures,
    SessionPolicy,
    after_failure,
    needs_touch,
    safe_next,
    session_state,
    valid_login,
)

T0 = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
POLICY = SessionPolicy(idle_s=1800, absolute_s=43_200)


@pytest.mark.parametrize(
    ("last_seen_min", "now_min", "state"),
    [
        (0, 0, "ok"),
        (0, 29.99, "ok"),
        (0, 30, "idle"),
        (700, 719.99, "ok"),  # used a minute ago, 11 h 59 after sign-in
        (710, 720, "expired"),  # 12 h after sign-in, whatever the use
        (0, 720, "expired"),  # expiry wins over idleness
    ],
)  # fmt: skip
def test_session_states(last_seen_min: float, now_min: float, state: str) -> None:
    expires = T0 + timedelta(hours=12)
    seen = T0 + timedelta(minutes=last_seen_min)
    assert session_state(POLICY, T0 + timedelta(minutes=now_min), seen, expires) == state


def test_last_use_is_recorded_at_most_every_touch_period() -> None:
    assert not needs_touch(POLICY, T0 + timedelta(seconds=29), T0)
    assert needs_touch(POLICY, T0 + timedelta(seconds=30), T0)


def test_the_fifth_failure_locks_for_15_minutes_and_resets_the_count() -> None:
    f = CLEARED
    for i in range(1, 5):
        f = after_failure(POLICY, T0, f)
        assert f == Failures(i, 0, None)
    f = after_failure(POLICY, T0, f)
    assert f == Failures(0, 1, T0 + timedelta(minutes=15))
    assert f.locked(T0 + timedelta(minutes=14, seconds=59))
    assert not f.locked(T0 + timedelta(minutes=15))


@pytest.mark.parametrize(("lockouts_before", "minutes"),
                         [(0, 15), (1, 30), (2, 60), (3, 120), (6, 960), (7, 1440), (20, 1440)])  # fmt: skip
def test_each_further_lockout_doubles_up_to_a_day(lockouts_before: int, minutes: int) -> None:
    f = after_failure(POLICY, T0, Failures(4, lockouts_before, None))
    assert f.locked_until == T0 + timedelta(minutes=minutes)
    assert f.lockouts == lockouts_before + 1


@pytest.mark.parametrize(
    ("target", "goes_to"),
    [
        (None, "/"), ("", "/"), ("/", "/"), ("/patients?q=li#top", "/patients?q=li#top"),
        ("//evil.example/", "/"), ("/\\evil.example", "/"), ("https://evil.example/", "/"),
        ("javascript:alert(1)", "/"), ("patients", "/"), ("/a b", "/"), ("/a\r\nSet-Cookie: x", "/"),
        ("/" + "a" * 2001, "/"),
    ],
)  # fmt: skip
def test_after_sign_in_only_paths_of_this_site(target: str | None, goes_to: str) -> None:
    assert safe_next(target) == goes_to


@pytest.mark.parametrize(("login", "ok"), [("nurse.li", True), ("doctor-wang2", True),
    ("a", True), ("Nurse.Li", False), (".li", False), ("li na", False), ("x" * 65, False),
    ("", False), ("李娜", False)])  # fmt: skip
def test_logins(login: str, ok: bool) -> None:
    assert valid_login(login) is ok


def test_policy_bounds() -> None:
    with pytest.raises(ValueError, match="idle"):
        SessionPolicy(idle_s=7200, absolute_s=3600)
    with pytest.raises(ValueError, match="lockout"):
        SessionPolicy(max_failures=0)


def test_passwords_verify_and_are_rehashed_when_parameters_change() -> None:
    stored = passwords.hash_password("correct horse")
    assert stored.startswith("$argon2id$")
    assert passwords.check(stored, "correct horse") == passwords.Checked(True, None)
    assert passwords.check(stored, "wrong horse") == passwords.Checked(False, None)
    assert passwords.check("not a hash", "correct horse").ok is False
    weak = PasswordHasher(time_cost=1, memory_cost=8192).hash("correct horse")
    checked = passwords.check(weak, "correct horse")
    assert checked.ok and checked.rehash is not None and checked.rehash != weak
    assert passwords.check(checked.rehash, "correct horse") == passwords.Checked(True, None)


@pytest.mark.parametrize("password", ["short", "x" * (passwords.MAX_LENGTH + 1)])
def test_unacceptable_passwords_are_refused_before_hashing(password: str) -> None:
    with pytest.raises(passwords.WeakPasswordError):
        passwords.hash_password(password)
    assert passwords.check(passwords.hash_password("long enough"), password).ok is False
