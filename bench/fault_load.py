"""The traffic of a fault scenario, and the devices' side of its figures.

- The load: simulated devices (simulators.runner, load mode) that keep every reading until it is
  acknowledged end to end and publish again what is not, across reconnections, as the device
  contract asks real devices to.
- Alarm meters: the glucometers of other patients, each sending a level-2 hypoglycaemia
  (45 mg/dL) every `alarm_every_s` for the whole scenario, so that each of their patients must
  get exactly one `glucose.level2_low` alert, whatever fault came in between.
- The recovery clock: seconds from a restart to the first new end-to-end ack.

Must not: inject faults (bench.fault_stack) or read the database (bench.database).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from simulators import payloads
from simulators.device import DeviceConnection
from simulators.fleet import SimPatient, device_password
from simulators.runner import RunConfig, Simulation
from vigil.settings import Settings

ALARM_RULE = "glucose.level2_low"
ALARM_MG_DL = 45.0


@dataclass(frozen=True, slots=True)
class LoadPlan:
    rate: float = 100.0  # messages/s across the load's devices
    messages: int = 2000
    alarm_every_s: float = 2.0
    drain_s: float = 90.0  # after the load, time for every reading to be acknowledged end to end


class Load:
    def __init__(self, settings: Settings, load: Sequence[SimPatient],
                 alarms: Sequence[SimPatient], plan: LoadPlan) -> None:  # fmt: skip
        self._settings = settings
        self.plan = plan
        secret = settings.sim.secret.get_secret_value()
        self.sim = Simulation(load, RunConfig(settings.mqtt.host, settings.mqtt.port, secret,
                                              rate=plan.rate, max_readings=plan.messages,
                                              progress=False, drain_s=plan.drain_s, record=True,
                                              max_inflight=50, resend_after_s=10.0))  # fmt: skip
        self._alarms = [
            DeviceConnection(
                d.device_id,
                device_password(secret, d.device_id),
                settings.mqtt.host,
                settings.mqtt.port,
                self.sim.stats,
                max_inflight=50,
                resend_after_s=10.0,
            )
            for p in alarms
            for d in p.devices
            if d.profile.kind == "glucometer"
        ]
        meters = {d.device_id for p in alarms for d in p.devices if d.profile.kind == "glucometer"}
        self.alarm_patients = [p.patient_id for p in alarms if meters & set(_ids(p))]
        self.alarm_log: list[tuple[str, int]] = []

    async def connect(self) -> asyncio.Task[None]:
        """Connect every device and start the traffic; the task ends when all is sent and
        acknowledged end to end (or the drain ran out)."""
        for conn in self._alarms:
            await conn.connect()
        task = asyncio.create_task(self._traffic())
        await self.sim.connected.wait()
        return task

    async def _traffic(self) -> None:
        sim = asyncio.create_task(self.sim.run())
        ticker = asyncio.create_task(self._resend_ticks(sim))
        seq = 0
        try:
            while not sim.done():
                self._alarm(seq)
                seq += 1
                await asyncio.wait({sim}, timeout=self.plan.alarm_every_s)
            sim.result()
            end = time.monotonic() + self.plan.drain_s
            while any(c.unacked for c in self._alarms) and time.monotonic() < end:  # noqa: ASYNC110
                await asyncio.sleep(0.2)
        finally:
            ticker.cancel()
            for conn in self._alarms:
                await conn.close()

    def _alarm(self, seq: int) -> None:
        at = datetime.now(UTC) - timedelta(seconds=1)
        for conn in self._alarms:
            doc = payloads.message(conn.device_id, seq, at,
                                   [payloads.reading("glucose", ALARM_MG_DL, "mg/dL")])  # fmt: skip
            conn.send(seq, payloads.encode(doc))
            self.alarm_log.append((conn.device_id, seq))

    async def _resend_ticks(self, sim: asyncio.Task[object]) -> None:
        """Publish again what waited `resend_after_s` for its end-to-end ack (the simulation
        does so itself only while it drains)."""
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            for conn in (*self._alarms, *([] if sim.done() else self.sim.connections)):
                conn.resend_overdue(now)

    def mark(self) -> tuple[float, int]:
        """The recovery clock's start: now, and the end-to-end acks so far."""
        return time.monotonic(), self.sim.stats.e2e_acked

    async def first_ack_since(
        self, mark: tuple[float, int], timeout_s: float = 120.0
    ) -> float | None:
        """Seconds from `mark` to the first end-to-end ack after it (None: none came)."""
        start, before = mark
        while time.monotonic() - start < timeout_s:
            if self.sim.stats.e2e_acked > before:
                return round(time.monotonic() - start, 2)
            await asyncio.sleep(0.02)
        return None

    def sent(self) -> list[tuple[str, int]]:
        """(device id, seq) of every message sent, load and alarms."""
        return [(d, s) for d, s, _ in self.sim.sent_log] + self.alarm_log

    def acked_seqs(self) -> dict[str, int]:
        """Device id -> highest seq acknowledged end to end."""
        return {c.device_id: c.acked_seq for c in (*self.sim.connections, *self._alarms)}

    def broker_acked(self) -> int:
        return sum(len(c.broker_acked) for c in (*self.sim.connections, *self._alarms))


def _ids(patient: SimPatient) -> list[str]:
    return [d.device_id for d in patient.devices]
