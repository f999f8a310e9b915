"""The faults of `vigil bench faults`, one coroutine per scenario: each injects its fault into a
running scenario and returns `recovery_s`, seconds from the restart command to the first new
end-to-end ack (None when nothing restarts), and notes what it saw in `World.notes`.

Must not: count or judge (bench.faults does), or wait for the load to end.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from bench.database import Bench
from bench.fault_load import Load
from bench.fault_stack import Pipeline, connack, service
from ingest.contract import readings_topic
from simulators.device import DeviceConnection, DeviceStats
from simulators.fleet import SimPatient, device_password


@dataclass(slots=True)
class World:
    """What a fault may touch: the process, the load, the services (through services.sh)."""

    bench: Bench
    alarm_patients: list[SimPatient]  # outside the load: the poison and the takeover use theirs
    pipeline: Pipeline
    load: Load
    down_s: float  # how long PostgreSQL (database) or vigil run (backlog) stays down
    notes: dict[str, Any]


Fault = Callable[[World], Awaitable[float | None]]  # injects; returns recovery_s (None: no restart)


async def kill_pipeline(w: World) -> float | None:
    w.pipeline.kill()
    mark = w.load.mark()
    w.pipeline.start()
    return await w.load.first_ack_since(mark)


async def stop_database(w: World) -> float | None:
    return await _database_down(w, "stop")


async def crash_database(w: World) -> float | None:
    """PostgreSQL gone without a checkpoint (an immediate shutdown): its next start replays the
    WAL, and what it had committed must all be there."""
    return await _database_down(w, "crash")


async def _database_down(w: World, how: str) -> float | None:
    """PostgreSQL stopped (`how`: "stop", a fast shutdown, or "crash") for `down_s`, then up."""
    await service(how, "postgres")
    await asyncio.sleep(w.down_s)
    mark = w.load.mark()
    await service("up", "postgres")
    return await w.load.first_ack_since(mark)


async def backlog(w: World) -> float | None:
    """`vigil run` stopped cleanly while the devices keep sending: the broker queues a backlog
    in the ingest's session, drained after the restart."""
    w.pipeline.stop()
    await asyncio.sleep(w.down_s)
    mark = w.load.mark()
    w.pipeline.start()
    return await w.load.first_ack_since(mark)


async def crash_broker(w: World) -> float | None:
    await service("crash", "mosquitto")
    await asyncio.sleep(1.0)
    mark = w.load.mark()
    await service("up", "mosquitto")
    return await w.load.first_ack_since(mark)


def deep(device: str, seq: int, depth: int = 1_000) -> bytes:
    """The issue's poison message: a valid SpO2 reading with 6 KB of `{"a":` nested `depth`
    levels deep as its context."""
    ts = (datetime.now(UTC) - timedelta(minutes=1)).isoformat().encode()
    head = b'{"v":1,"device_id":"%s","seq":%d,"ts":"%s",' % (device.encode(), seq, ts)
    head += b'"readings":[{"metric":"spo2","value":97,"unit":"%"}],"context":'
    return head + b'{"a":' * depth + b"1" + b"}" * depth + b"}"


async def poison(w: World) -> float | None:
    """From a device outside the load (an alarm patient's wearable), seq 0 only."""
    patients = w.alarm_patients
    device = next(d for p in patients for d in p.devices if d.profile.suffix == "wr")
    secret = w.bench.settings.sim.secret.get_secret_value()
    s = w.bench.settings.mqtt
    conn = DeviceConnection(device.device_id, device_password(secret, device.device_id),
                            s.host, s.port, DeviceStats())  # fmt: skip
    await conn.connect()
    try:
        reason = await conn.publish_raw(readings_topic(device.device_id), deep(device.device_id, 0))
    finally:
        await conn.close()
    w.notes["poison_broker_acked"] = not reason.is_failure
    return None


async def takeover(w: World) -> float | None:
    device = w.alarm_patients[0].devices[0].device_id
    password = device_password(w.bench.settings.sim.secret.get_secret_value(), device)
    before = w.pipeline.disconnections()
    reason = await asyncio.to_thread(connack, w.bench.settings, device, password,
                                     w.pipeline.client_id)  # fmt: skip
    w.notes["takeover_refused"] = reason.is_failure
    await asyncio.sleep(2.0)  # a kicked ingest logs its lost connection at once
    w.notes["ingest_disconnected"] = w.pipeline.disconnections() > before
    return None


async def burst(w: World) -> float | None:
    """Nothing breaks: the load itself is the fault, 120,000 messages as fast as the devices
    can send them (bench.faults.SCENARIO_PLANS), against the 100/s of the other scenarios."""
    w.notes["burst_messages"] = w.load.plan.messages
    return None


SCENARIOS: Mapping[str, Fault] = MappingProxyType({
    "kill": kill_pipeline, "database": stop_database, "database-crash": crash_database,
    "broker": crash_broker, "backlog": backlog, "poison": poison, "takeover": takeover,
    "burst": burst,
})  # fmt: skip
