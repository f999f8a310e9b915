"""Staff sign-in and sessions on real PostgreSQL (issue 10, part 1): the cookie and its flags,
CSRF on changes made with the cookie, bearer tokens unchanged, idle and absolute expiry on a
moved clock, sign-out, lockout after repeated failures (audited) and its end, disabled staff."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from api.session_policy import SessionPolicy
from api.staff_accounts import change_password, disable_staff
from tests.integration.rest_world import utc_now
from tests.integration.session_world import (
    PASSWORD,
    Clock,
    login,
    seed_accounts,
    session_client,
    sign_in,
)

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(90)]

V1 = "/api/v1"


def audit(dsn: str, *actions: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "SELECT action, actor, role, detail FROM audit_log WHERE action = ANY(%s) ORDER BY id",
            (list(actions),),
        ).fetchall()


def set_cookie(r: httpx.Response) -> str:
    return r.headers["set-cookie"]


async def test_form_sign_in_sets_a_strict_httponly_cookie_and_redirects(dsn: str, tag: str) -> None:
    w = await seed_accounts(dsn, tag)
    async with session_client(dsn, Clock(utc_now())) as c:
        r = await c.post(
            "/auth/signin",
            data={"login": login(w, "nurse"), "password": PASSWORD, "next": "/patients?q=1"},
        )
        me = await c.get("/auth/me")
        evil = await c.post(
            "/auth/signin",
            data={"login": login(w, "nurse"), "password": PASSWORD, "next": "//evil.example/x"},
        )
    assert r.status_code == 303 and r.headers["location"] == "/patients?q=1"
    cookie = set_cookie(r).lower()
    assert cookie.startswith("vigil_session=")
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    assert "secure" not in cookie  # plain http, no TLS in front
    assert evil.headers["location"] == "/"
    body = me.json()
    assert body["login"] == login(w, "nurse") and body["role"] == "nurse"
    assert body["teams"] == [w.teams[0].id] and body["locale"] == "en"
    assert body["name"] == "Nurse Li" and len(body["csrf_token"]) >= 32
    assert me.headers["cache-control"] == "no-store"
    assert [a[1] for a in audit(dsn, "signin")] == [w.staff(0, "nurse")] * 2


@pytest.mark.parametrize(("base_url", "tls_terminated"), [("https://vigil.test", False),
                                                          ("http://vigil.test", True)])  # fmt: skip
async def test_the_cookie_is_secure_over_tls(
    dsn: str, tag: str, base_url: str, tls_terminated: bool
) -> None:
    w = await seed_accounts(dsn, tag)
    policy = SessionPolicy(secure_cookie=tls_terminated)
    async with session_client(dsn, Clock(utc_now()), policy, base_url=base_url) as c:
        r = await sign_in(c, login(w, "doctor"))
    assert r.status_code == 200 and "secure" in set_cookie(r).lower()


@pytest.mark.parametrize("password", ["wrong password", "", PASSWORD.upper()])
async def test_a_wrong_password_is_refused_both_ways(dsn: str, tag: str, password: str) -> None:
    w = await seed_accounts(dsn, tag)
    async with session_client(dsn, Clock(utc_now())) as c:
        as_json = await sign_in(c, login(w, "nurse"), password)
        as_form = await c.post(
            "/auth/signin", data={"login": login(w, "nurse"), "password": password, "next": "/x"}
        )
        unknown = await sign_in(c, "nobody.here", password)
        me = await c.get("/auth/me")
    assert as_json.status_code == 401 and as_json.json()["error"]["code"] == "signin_failed"
    assert unknown.json() == as_json.json()  # an unknown login reads the same
    assert as_form.status_code == 303 and as_form.headers["location"] == "/signin?error=1&next=%2Fx"
    assert "set-cookie" not in as_json.headers and me.status_code == 401
    reasons = [(a[1], a[3]["reason"]) for a in audit(dsn, "signin_failed", "signin_refused")]
    assert reasons == [(w.staff(0, "nurse"), "wrong_password")] * 2 + [("unknown", "unknown_login")]


async def test_changes_with_the_cookie_need_the_csrf_token(dsn: str, tag: str) -> None:
    w = await seed_accounts(dsn, tag)
    ack = f"{V1}/alerts/{w.teams[0].alert_id}/acknowledge"
    async with session_client(dsn, Clock(utc_now())) as c:
        token = (await sign_in(c, login(w, "doctor"))).json()["session"]["csrf_token"]
        read = await c.get(f"{V1}/alerts/{w.teams[0].alert_id}")  # reads need no token
        without = await c.post(ack, json={})
        wrong = await c.post(ack, json={}, headers={"X-CSRF-Token": token[:-2] + "xx"})
        right = await c.post(ack, json={}, headers={"X-CSRF-Token": token})
    assert read.status_code == 200
    for refused in (without, wrong):
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed"
    assert right.status_code == 200 and right.json()["acknowledged_by"] == w.staff(0, "doctor")


async def test_bearer_tokens_still_work_without_csrf(dsn: str, tag: str) -> None:
    w = await seed_accounts(dsn, tag)
    async with session_client(dsn, Clock(utc_now())) as c:
        r = await c.post(f"{V1}/alerts/{w.teams[0].alert_id}/acknowledge", json={},
                         headers=w.bearer(0, "doctor"))  # fmt: skip
        none = await c.get(f"{V1}/patients")
    assert r.status_code == 200
    assert none.status_code == 401 and none.json()["error"]["code"] == "unauthenticated"


async def test_sessions_end_when_idle_and_at_their_absolute_expiry(dsn: str, tag: str) -> None:
    w = await seed_accounts(dsn, tag)
    clock = Clock(utc_now())
    policy = SessionPolicy(idle_s=1800, absolute_s=3 * 3600)
    async with session_client(dsn, clock, policy) as c:
        await sign_in(c, login(w, "nurse"))
        seen = []
        for minutes in (29, 29, 29, 29, 29, 29):  # used every 29 min: never idle for 30
            clock.advance(minutes=minutes)
            seen.append((await c.get(f"{V1}/patients")).status_code)
        clock.advance(minutes=7)  # 3 h 01 after sign-in
        seen.append((await c.get(f"{V1}/patients")).status_code)
        await sign_in(c, login(w, "nurse"))
        clock.advance(minutes=31)
        seen.append((await c.get("/auth/me")).status_code)
    assert seen == [200] * 6 + [401, 401]
    with psycopg.connect(dsn) as conn:
        reasons = conn.execute("SELECT ended_reason FROM staff_sessions ORDER BY created_at")
        assert [r[0] for r in reasons] == ["expired", "idle"]


async def test_sign_out_ends_the_session_server_side(dsn: str, tag: str) -> None:
    w = await seed_accounts(dsn, tag)
    async with session_client(dsn, Clock(utc_now())) as c:
        token = (await sign_in(c, login(w, "nurse"))).json()["session"]["csrf_token"]
        stolen = c.cookies["vigil_session"]
        refused = await c.post("/auth/signout")  # no CSRF token
        out = await c.post("/auth/signout", data={"csrf_token": token})
        c.cookies.set("vigil_session", stolen)  # a copy of the cookie kept elsewhere
        after = await c.get("/auth/me")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed"
    assert out.status_code == 303 and out.headers["location"] == "/signin"
    assert 'vigil_session=""' in set_cookie(out) and "max-age=0" in set_cookie(out).lower()
    assert after.status_code == 401
    assert [a[1] for a in audit(dsn, "signout")] == [w.staff(0, "nurse")]


async def test_five_failures_lock_the_account_then_it_unlocks(dsn: str, tag: str) -> None:
    w = await seed_accounts(dsn, tag)
    clock = Clock(utc_now())
    nurse = login(w, "nurse")
    async with session_client(dsn, clock) as c:
        for _ in range(5):
            assert (await sign_in(c, nurse, "guess")).status_code == 401
        locked = await sign_in(c, nurse)  # the right password, while locked
        clock.advance(minutes=14, seconds=59)
        still = await sign_in(c, nurse)
        clock.advance(seconds=1)
        unlocked = await sign_in(c, nurse)
    assert (locked.status_code, still.status_code, unlocked.status_code) == (401, 401, 200)
    assert locked.json()["error"]["code"] == "signin_failed"  # the same answer as a wrong password
    lockouts = audit(dsn, "lockout")
    assert [(a[1], a[3]["lockouts"]) for a in lockouts] == [(w.staff(0, "nurse"), 1)]
    refused = [a[3]["reason"] for a in audit(dsn, "signin_refused")]
    assert refused == ["locked", "locked"]


async def test_further_lockouts_last_twice_as_long(dsn: str, tag: str) -> None:
    w = await seed_accounts(dsn, tag)
    clock = Clock(utc_now())
    nurse = login(w, "nurse")
    async with session_client(dsn, clock) as c:
        for _ in range(5):
            await sign_in(c, nurse, "guess")
        clock.advance(minutes=15)
        for _ in range(5):
            await sign_in(c, nurse, "guess")
        clock.advance(minutes=29)
        second = await sign_in(c, nurse)
        clock.advance(minutes=1)
        after = await sign_in(c, nurse)
    assert (second.status_code, after.status_code) == (401, 200)
    assert [a[3]["lockouts"] for a in audit(dsn, "lockout")] == [1, 2]


async def test_a_disabled_account_cannot_sign_in_and_its_sessions_and_tokens_stop(
    dsn: str, tag: str
) -> None:
    w = await seed_accounts(dsn, tag)
    async with session_client(dsn, Clock(utc_now())) as c:
        await sign_in(c, login(w, "doctor"))
        assert (await c.get(f"{V1}/patients")).status_code == 200
        async with AsyncConnectionPool(dsn, min_size=1, max_size=1, open=False) as pool:
            assert await disable_staff(pool, utc_now(), login(w, "doctor")) == 1
        session = await c.get(f"{V1}/patients")
        c.cookies.clear()
        bearer = await c.get(f"{V1}/patients", headers=w.bearer(0, "doctor"))
        again = await sign_in(c, login(w, "doctor"))
        other = await c.get(f"{V1}/patients", headers=w.bearer(0, "nurse"))
    assert (session.status_code, bearer.status_code, again.status_code) == (401, 401, 401)
    assert other.status_code == 200
    assert [a[3]["reason"] for a in audit(dsn, "signin_refused")] == ["disabled"]


async def test_a_new_password_ends_sessions_and_replaces_the_old(dsn: str, tag: str) -> None:
    w = await seed_accounts(dsn, tag)
    async with session_client(dsn, Clock(utc_now())) as c:
        await sign_in(c, login(w, "nurse"))
        async with AsyncConnectionPool(dsn, min_size=1, max_size=1, open=False) as pool:
            await change_password(pool, utc_now(), login(w, "nurse"), "a brand new one")
        ended = await c.get("/auth/me")
        old = await sign_in(c, login(w, "nurse"))
        new = await sign_in(c, login(w, "nurse"), "a brand new one")
    assert (ended.status_code, old.status_code, new.status_code) == (401, 401, 200)
    assert [a[3]["sessions_ended"] for a in audit(dsn, "password_changed")] == [1]


async def test_json_sign_in_and_a_foreign_origin(dsn: str, tag: str) -> None:
    w = await seed_accounts(dsn, tag)
    async with session_client(dsn, Clock(utc_now())) as c:
        foreign = await c.post("/auth/signin", data={"login": login(w, "nurse"),
                               "password": PASSWORD}, headers={"Origin": "http://evil.example"})  # fmt: skip
        own = await c.post("/auth/signin", json={"login": login(w, "nurse"), "password": PASSWORD},
                           headers={"Origin": "http://vigil.test"})  # fmt: skip
        c.cookies.clear()
        me_by_token = await c.get("/auth/me", headers=w.bearer(0, "nurse"))
    assert foreign.status_code == 403 and "set-cookie" not in foreign.headers
    assert own.status_code == 200 and own.json()["session"]["login"] == login(w, "nurse")
    assert me_by_token.status_code == 401  # /auth/me is about sessions, not tokens


async def test_sign_in_events_reach_the_admins_of_the_persons_teams(dsn: str, tag: str) -> None:
    w = await seed_accounts(dsn, tag)
    clock = Clock(utc_now())
    async with session_client(dsn, clock) as c:
        for _ in range(5):
            await sign_in(c, login(w, "nurse"), "guess")
        own = await c.get(f"{V1}/audit", headers=w.bearer(0, "admin"))
        other = await c.get(f"{V1}/audit", headers=w.bearer(1, "admin"))
    mine = [(e["action"], e["actor"]) for e in own.json() if e["resource"] == "session"]
    assert ("lockout", w.staff(0, "nurse")) in mine and len(mine) == 6
    assert not [e for e in other.json() if e["actor"] == w.staff(0, "nurse")]
