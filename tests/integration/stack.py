"""Run Vigil's real processes (`vigil run`, or `vigil ingest` + `worker` + `api`) for a test.

The processes are the production entry points, configured through the environment exactly as in
a deployment: the test's own database, Kafka topic and consumer group, MQTT client id and API
port. Their logs go to a file that is printed when a test fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bench.broker import close_session
from vigil.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    bus: str
    api_url: str
    ws_url: str
    env: dict[str, str]
    log: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, *args: str, env: Mapping[str, str] | None = None) -> None:
        with self.log.open("ab") as out:  # the child keeps its own descriptor
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "vigil.cli", *args],
                env={**self.env, **(env or {})},
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout_s: float = 20.0) -> int:
        proc = self.procs.pop(name)
        if proc.poll() is None:
            proc.send_signal(sig)
        try:
            return proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)

    def tail(self, lines: int = 60) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    async def wait_healthy(self, timeout_s: float = 60.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while asyncio.get_running_loop().time() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.tail()}")
            if await asyncio.to_thread(_healthy, f"{self.api_url}/health"):
                return
            await asyncio.sleep(0.3)
        raise TimeoutError(f"stack not healthy within {timeout_s} s:\n{self.tail()}")

    async def wait_for_log(self, text: str, timeout_s: float = 60.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while asyncio.get_running_loop().time() < deadline:
            if self.log.exists() and text in self.log.read_text(errors="replace"):
                return
            await asyncio.sleep(0.2)
        raise TimeoutError(f"{text!r} not logged within {timeout_s} s:\n{self.tail()}")


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def stack_env(settings: Settings, dsn: str, tag: str, api_port: int) -> dict[str, str]:
    return {
        **os.environ,
        "VIGIL_DB__DSN": dsn,
        "VIGIL_MQTT__CLIENT_ID": f"vigil-ingest-{tag}",
        "VIGIL_API__PORT": str(api_port),
        "VIGIL_KAFKA__READINGS_TOPIC": f"vigil.readings.{tag}",
        "VIGIL_KAFKA__APP_ID": f"vigil-stream-{tag}",
        "VIGIL_INGEST__BINDING_REFRESH_S": "2",
        "VIGIL_STATE_DIR": str(settings.state_dir.resolve()),
    }


@contextlib.asynccontextmanager
async def running_stack(
    settings: Settings,
    dsn: str,
    tag: str,
    bus: str,
    log_dir: Path,
    process_env: Mapping[str, Mapping[str, str]] | None = None,
    **env: str,
) -> AsyncIterator[Stack]:
    """The real processes for `bus`; `env` adds settings (e.g. VIGIL_STREAM__TICK_S="0.5") to
    all of them, `process_env` to one (by process name: run; ingest, worker, api)."""
    port = free_port()
    stack = Stack(
        bus=bus,
        api_url=f"http://127.0.0.1:{port}",
        ws_url=f"ws://127.0.0.1:{port}/ws/alerts",
        env={**stack_env(settings, dsn, tag, port), **env},
        log=log_dir / f"stack-{bus}-{tag}.log",
    )
    if bus == "kafka":
        for name in ("ingest", "worker", "api"):
            stack.start(name, name, env=(process_env or {}).get(name))
    else:
        stack.start("run", "run", env=(process_env or {}).get("run"))
    try:
        await stack.wait_healthy()
        await stack.wait_for_log("ingest up" if bus == "kafka" else "embedded runner up")
        yield stack
    except BaseException:
        print(stack.tail(), file=sys.stderr)
        raise
    finally:
        stack.stop_all()
        # the test ingest's persistent session would otherwise queue everyone's readings for days
        await asyncio.to_thread(close_session, settings, f"vigil-ingest-{tag}")
