"""What the fault harness breaks: `vigil run` as a real process on the private services, and the
faults themselves (kill -9 of the pipeline, PostgreSQL stopped, Mosquitto killed, a device
login asking for the ingest's client id).

Must not: measure (bench.fault_load counts what the devices and the database saw) or reach into
the process (only its port, its log and signals).
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from bench.processes import Processes, free_port
from vigil.paths import SERVICES_SCRIPT
from vigil.settings import Settings


class Pipeline:
    """`vigil run` on the scenario's database, with its own MQTT client id and API port."""

    def __init__(self, settings: Settings, dsn: str, client_id: str, logs: Path) -> None:
        self.client_id = client_id
        self.port = free_port()
        env = {
            "VIGIL_DB__DSN": dsn,
            "VIGIL_MQTT__CLIENT_ID": client_id,
            "VIGIL_API__PORT": str(self.port),
        }
        self.procs = Processes(settings, env, logs)
        self.log = logs / "bench-run.log"

    def start(self) -> None:
        self.procs.start("run")

    def kill(self) -> None:
        self.procs.kill()

    def stop(self) -> None:
        self.procs.stop()

    def running(self) -> bool:
        return bool(self.procs.procs) and all(p.poll() is None for p in self.procs.procs)

    async def healthy(self) -> bool:
        return self.running() and await asyncio.to_thread(_answers, self.port)

    def disconnections(self) -> int:
        """How often `vigil run` logged a lost broker connection (this log, all scenarios)."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return text.count("mqtt disconnected")

    async def wait_healthy(self, timeout_s: float = 90.0) -> None:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if not self.running():
                raise RuntimeError(f"vigil run exited; see {self.log}")
            if await self.healthy():
                return
            await asyncio.sleep(0.2)
        raise TimeoutError(f"vigil run not healthy within {timeout_s} s; see {self.log}")


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
            return bool(r.status == 200)
    except OSError:
        return False


async def service(*args: str) -> None:
    """`infra/services.sh ARGS`, e.g. ("stop", "postgres"), ("crash", "mosquitto"), ("up", ...)."""
    await asyncio.to_thread(
        subprocess.run, [str(SERVICES_SCRIPT), *args], check=True, capture_output=True
    )


def connack(settings: Settings, username: str, password: str, client_id: str) -> ReasonCode:
    """The broker's answer to a login with the given client id (then disconnects)."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.username_pw_set(username, password)
    answer: list[ReasonCode] = []
    got = threading.Event()

    def on_connect(c: mqtt.Client, u: object, f: object, reason: ReasonCode, p: object) -> None:
        answer.append(reason)
        got.set()

    client.on_connect = on_connect
    client.connect(settings.mqtt.host, settings.mqtt.port)
    client.loop_start()
    try:
        if not got.wait(10):
            raise TimeoutError("no CONNACK within 10 s")
    finally:
        client.disconnect()
        client.loop_stop()
    return answer[0]
