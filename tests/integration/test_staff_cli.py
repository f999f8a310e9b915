"""`vigil staff add|passwd|disable` as an operator runs them (a real process, password on
standard input), checked by signing in through the API."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
import pytest

from tests.conftest import REPO
from tests.integration.rest_world import seed, utc_now
from tests.integration.session_world import Clock, seed_accounts, session_client, sign_in

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(120)]


def vigil(dsn: str, *args: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VIGIL_DB__DSN": dsn}
    return subprocess.run(
        [sys.executable, "-m", "vigil.cli", "staff", *args], input=password, env=env, cwd=REPO,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


async def test_add_passwd_and_disable(dsn: str, tag: str) -> None:
    w = await seed(dsn, tag)
    team, other = w.teams[0].id, w.teams[1].id
    added = vigil(dsn, "add", "nurse.li", "--name", "Li Na", "--role", "nurse", "--team", team,
                  "--team", other, "--locale", "zh-CN", "--time-zone", "Asia/Shanghai",
                  "--password-stdin", password="first password\n")  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "first password" not in added.stdout + added.stderr
    async with session_client(dsn, Clock(utc_now())) as c:
        me = (await sign_in(c, "nurse.li", "first password")).json()["session"]
        assert (me["name"], me["locale"], me["time_zone"]) == ("Li Na", "zh-CN", "Asia/Shanghai")
        assert me["teams"] == sorted([team, other]) and me["role"] == "nurse"
        changed = vigil(dsn, "passwd", "nurse.li", password="second password\n")
        assert changed.returncode == 0, changed.stderr
        assert (await c.get("/auth/me")).status_code == 401  # a new password ends sessions
        assert (await sign_in(c, "nurse.li", "first password")).status_code == 401
        assert (await sign_in(c, "nurse.li", "second password")).status_code == 200
        disabled = vigil(dsn, "disable", "nurse.li")
        assert disabled.returncode == 0 and "1 session(s) ended" in disabled.stdout
        assert (await c.get("/auth/me")).status_code == 401
        assert (await sign_in(c, "nurse.li", "second password")).status_code == 401
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT action FROM audit_log WHERE resource = 'staff' ORDER BY id")
        assert [r[0] for r in rows] == ["staff_added", "password_changed", "staff_disabled"]


@pytest.mark.parametrize(
    ("args", "password", "says"),
    [
        (["add", "Bad Login", "--name", "x", "--role", "nurse", "--team", "{team}"], "long enough", "a login is"),
        (["add", "nurse.wu", "--name", "x", "--role", "nurse", "--team", "no-such-team"], "long enough", "no care team"),
        (["add", "nurse.wu", "--name", "x", "--role", "nurse", "--team", "{team}"], "short", "at least 8"),
        (["add", "nurse.wu", "--name", "x", "--role", "nurse", "--team", "{team}", "--time-zone", "Mars/Base"], "long enough", "unknown time zone"),
        (["add", "nurse0.{tag}", "--name", "x", "--role", "nurse", "--team", "{team}", "--id", "someone-else"], "long enough", "belongs to staff id"),
        (["passwd", "nobody"], "long enough", "no staff member"),
        (["disable", "nobody"], None, "no staff member"),
    ],
)  # fmt: skip
async def test_refusals_say_why(
    dsn: str, tag: str, args: list[str], password: str | None, says: str
) -> None:
    w = await seed_accounts(dsn, tag)
    done = vigil(dsn, *[a.format(team=w.teams[0].id, tag=tag) for a in args], password=password)
    assert done.returncode == 1 and says in done.stderr, done.stderr
