"""The product's own processes (`vigil run`, `vigil ingest`, `vigil worker`, `vigil api`),
started for a bench with their configuration in the environment, logs under the state dir.

Must not: measure (the benches do) or reach into a process (only its log and its port).
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from vigil.settings import Settings


class Processes:
    """Processes started with `start`, all stopped by `stop`; `wait_for` a line in a log."""

    def __init__(self, settings: Settings, env: dict[str, str], logs: Path) -> None:
        self.env = {**os.environ, "VIGIL_STATE_DIR": str(settings.state_dir.resolve()), **env}
        self.logs = logs
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str) -> None:
        with (self.logs / f"bench-{args[0]}.log").open("ab") as out:
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "vigil.cli", *args],
                    env=self.env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )

    async def wait_for(self, text: str, log_name: str, timeout_s: float = 120) -> None:
        path = self.logs / f"bench-{log_name}.log"
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if path.exists() and text in path.read_text(errors="replace"):
                return
            if any(p.poll() is not None for p in self.procs):
                raise RuntimeError(f"a benchmark process exited; see {self.logs}")
            await asyncio.sleep(0.2)
        raise TimeoutError(f"{text!r} not in {path}")

    def kill(self) -> None:
        """kill -9 every process, as a crash: no goodbye, nothing flushed."""
        for p in self.procs:
            p.kill()
            p.wait()
        self.procs.clear()

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        self.procs.clear()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_port(port: int, timeout_s: float = 60) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.2)
            continue
        writer.close()
        return
    raise TimeoutError(f"nothing listens on {port}")
