"""The README's first command, for real: `vigil up` starts everything in its own state directory,
a websocket client sees the simulated crisis within seconds, and Ctrl-C (or SIGTERM, as a
service manager or `timeout` sends it) leaves nothing running."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import sys
import time
from pathlib import Path

import httpx
import pytest
import websockets

from tests.conftest import REPO
from tests.integration.stack import free_port
from vigil.settings import Settings

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(240)]


def processes_of(state: Path) -> list[str]:
    """Processes whose command line or environment mention this state directory."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if str(state).encode() in cmdline or f"VIGIL_STATE_DIR={state}".encode() in environ:
            command = cmdline.replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{pid}: {command[:120]}")
    return found


async def read_until(
    proc: asyncio.subprocess.Process, pattern: str, timeout_s: float
) -> re.Match[str]:
    assert proc.stdout is not None
    seen = []
    async with asyncio.timeout(timeout_s):
        while line := (await proc.stdout.readline()).decode(errors="replace"):
            seen.append(line)
            if m := re.search(pattern, line):
                return m
    raise AssertionError(f"{pattern!r} not printed; output:\n{''.join(seen)}")


async def stopped(proc: asyncio.subprocess.Process, state: Path, timeout_s: float) -> int:
    """`vigil up`'s exit status; if it does not stop in time, fail with what it printed since
    the token, the processes still running and the tails of their logs (a hang says where)."""
    try:
        return await asyncio.wait_for(proc.wait(), timeout_s)
    except TimeoutError:
        running = processes_of(state)
        proc.kill()
        assert proc.stdout is not None
        chunks = []  # what is in the pipe (a service it started may still hold the pipe open)
        with contextlib.suppress(TimeoutError):
            while chunk := await asyncio.wait_for(proc.stdout.read(65536), 1):
                chunks.append(chunk)
        printed = b"".join(chunks).decode(errors="replace")[-4000:]
        logs = "\n".join(f"--- {f.name}\n{f.read_text(errors='replace')[-2000:]}"
                         for f in sorted((state / "logs").glob("*.log")))  # fmt: skip
        raise AssertionError(
            f"vigil up did not stop in {timeout_s} s; still running: {running}\n"
            f"printed:\n{printed}\nlogs:\n{logs}"
        ) from None


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
async def test_vigil_up_shows_the_crisis_and_stops_cleanly(
    settings: Settings, tag: str, stop_signal: signal.Signals
) -> None:
    state = REPO / ".vigil" / f"demo-{tag}"  # under the repo: the postgres user must reach it
    api_port = free_port()
    env = {
        **os.environ,
        "VIGIL_STATE_DIR": str(state),
        "VIGIL_MQTT_PORT": str(free_port()),
        # the TLS listeners too: the defaults (MQTT port + 1, + 2) may be a connection's
        # ephemeral port when the MQTT port itself is an ephemeral one
        "VIGIL_MQTTS_PORT": str(free_port()),
        "VIGIL_MQTT_CERT_PORT": str(free_port()),
        "VIGIL_PG_PORT": str(free_port()),
        "VIGIL_API__PORT": str(api_port),
        "VIGIL_API__ALLOWED_ORIGINS": f'["http://127.0.0.1:{api_port}"]',
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "vigil.cli", "up", "--patients", "6",
        env=env, cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        signin = await read_until(proc, r"sign in at (http://\S+)/ as (nurse\.li) / (\S+)", 180)
        async with httpx.AsyncClient(base_url=signin.group(1)) as http:
            nurse = await http.post(
                "/auth/signin", data={"login": signin.group(2), "password": signin.group(3)},
                headers={"Accept": "application/json"},
            )  # fmt: skip
        assert nurse.status_code == 200 and nurse.json()["session"]["role"] == "nurse"
        token = (await read_until(proc, r"vigil watch --token (\S+)", 30)).group(1)
        url = f"ws://127.0.0.1:{api_port}/ws/alerts"
        async with websockets.connect(
            url, additional_headers={"Authorization": f"Bearer {token}"}
        ) as ws:
            started = time.monotonic()
            while True:
                event = json.loads(await asyncio.wait_for(ws.recv(), 30))
                if event["type"] == "alert_event":
                    break
            assert (event["patient_id"], event["rule_id"]) == ("sim-p0000", "bp.crisis_suspected")
            assert time.monotonic() - started < 30
        proc.send_signal(stop_signal)
        assert await stopped(proc, state, 60) == 0
        # `vigil up` waits for its processes and for `services.sh down` (which waits for each
        # service to exit) before it exits: nothing may be left at this point, not even briefly
        assert processes_of(state) == []
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        down = await asyncio.create_subprocess_exec(
            str(REPO / "infra" / "services.sh"), "down", env=env
        )
        await down.wait()
        shutil.rmtree(state, ignore_errors=True)
