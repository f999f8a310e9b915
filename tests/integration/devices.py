"""Test helpers on the device side: enrol a tagged cohort, connect its devices, craft payloads.

Every MQTT connection a test opens is closed when the test ends, passed or failed (the autouse
fixture in conftest calls `close_all`): a socket left open is garbage-collected during a later
test and fails that one (unraisable warnings are errors).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from simulators import payloads
from simulators.device import DeviceConnection, DeviceStats
from simulators.fleet import SimPatient, cohort, device_password
from vigil.demo import enrol_demo
from vigil.runtime import build_broker_accounts
from vigil.settings import Settings

_closers: list[Callable[[], Awaitable[None]]] = []  # of the running test, newest last


def close_at_end(close: Callable[[], Awaitable[None]]) -> None:
    """Have `close` awaited when the test ends, e.g. `close_at_end(AsyncioPaho(c, loop).disconnect)`
    for a raw paho client."""
    _closers.append(close)


async def close_all() -> None:
    """Close what the test opened, newest first; every closer runs even if one fails."""
    errors: list[BaseException] = []
    while _closers:
        try:
            await _closers.pop()()
        except (OSError, TimeoutError) as exc:
            errors.append(exc)
    if errors:
        raise errors[0]


async def enrol(
    settings: Settings, dsn: str, tag: str, patients: int = 3
) -> tuple[list[SimPatient], str]:
    """Enrol `patients` simulated patients prefixed with `tag` (without the care program: these
    tests are about the pipeline); return them and a nurse token."""
    token = await enrol_demo(settings, patients=patients, seed=1, prefix=tag, dsn=dsn,
                             program=False)  # fmt: skip
    enrolled = cohort(patients, 1, prefix=tag)
    close_at_end(lambda: _forget(settings, [d.device_id for p in enrolled for d in p.devices]))
    return enrolled, token


async def _forget(settings: Settings, device_ids: list[str]) -> None:
    """Remove the test's device accounts from the broker: its work per account command grows
    with the accounts it holds (ingest.dynsec), and a suite enrols hundreds of devices."""
    await build_broker_accounts(settings).run(
        [{"command": "deleteClient", "username": d} for d in device_ids]
    )


async def connect(settings: Settings, device_id: str, stats: DeviceStats | None = None,
                  password: str | None = None) -> DeviceConnection:  # fmt: skip
    secret = settings.sim.secret.get_secret_value()
    conn = DeviceConnection(
        device_id,
        password if password is not None else device_password(secret, device_id),
        settings.mqtt.host,
        settings.mqtt.port,
        stats or DeviceStats(),
    )
    close_at_end(conn.close)
    await conn.connect()
    return conn


def bp_payload(device_id: str, seq: int, sbp: float, dbp: float = 85.0, *, minutes_ago: float = 1.0,
               **extra: Any) -> bytes:  # fmt: skip
    at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    readings = [
        payloads.reading("systolic_bp", sbp, "mm[Hg]"),
        payloads.reading("diastolic_bp", dbp, "mm[Hg]"),
        payloads.reading("heart_rate", 72.0, "/min"),
    ]
    doc = {**payloads.message(device_id, seq, at, readings), **extra}
    return orjson.dumps(doc)


def bp_device(patients: Sequence[SimPatient], index: int = 0) -> str:
    return next(d.device_id for d in patients[index].devices if d.profile.kind == "bp_cuff")
