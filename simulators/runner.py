"""Run a simulated cohort against the broker: scheduling, virtual time, bounds and progress.

Measurements are scheduled on a heap by simulated time. With `accel` 1 simulated time is wall
time. With `accel` > 1 (which needs a duration) simulated time runs faster and is placed so that
it catches up with the wall clock exactly when the run ends: every timestamp lies in the past,
within the ingest's accepted backlog, never in the future.

Devices listen for the patient's tier-1 messages: a `remeasure` prompt about a metric a device
measures makes it measure again `remeasure_after_s` (simulated) later, so that the loop
"prompt -> re-measure -> resolved or escalated" runs in the demo (schedule mode only: load mode
ignores cadences and prompts alike).

The run stops at `duration_s` or after `max_readings` messages, whichever comes first, then
waits (briefly) for outstanding end-to-end acks and saves each device's seq counter, as a real
device keeps its counter across restarts.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import json
import random
import sys
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from simulators import payloads
from simulators.adherence import BY_HAND, takes
from simulators.device import DeviceConnection, DeviceStats
from simulators.fleet import SimDevice, SimPatient, device_password
from simulators.inbox import PatientMessage, remeasure_of
from simulators.physiology import Baseline, baseline_for, measure, true_value
from simulators.scenarios import Episode


@dataclass(frozen=True, slots=True)
class RunConfig:
    host: str
    port: int
    secret: str
    seed: int = 1
    accel: float = 1.0
    duration_s: float | None = None
    max_readings: int | None = None
    rate: float | None = None  # load mode: messages/s across the cohort, ignoring cadences
    max_inflight: int = 20
    resend_after_s: float = 120.0  # a reading not acknowledged end to end is published again
    episodes: tuple[Episode, ...] = ()
    seq_file: Path | None = None
    progress: bool = True
    drain_s: float = 5.0
    record: bool = False  # keep (device_id, seq, metrics) of every message sent, for tests
    remeasure_after_s: float = 5.0  # simulated seconds from a re-measure prompt to the measurement
    # Measurements by hand follow each patient's persona (simulators.adherence): some drift
    # away, some stop for days. `history_days` of them are sent first, as a device's backlog.
    adherence: bool = False
    history_days: float = 0.0

    def __post_init__(self) -> None:
        if self.accel < 1.0:
            raise ValueError("accel must be >= 1")
        if self.accel > 1.0 and self.duration_s is None:
            raise ValueError("accel > 1 needs a duration (simulated time must end at now)")
        if not 0.0 <= self.history_days < 7.0:
            raise ValueError("history_days must lie within the ingest's 7-day backlog")


@dataclass(slots=True)
class SimClock:
    real_start: float  # time.monotonic()
    sim_start: datetime
    accel: float

    def now(self) -> datetime:
        return self.sim_start + timedelta(seconds=(time.monotonic() - self.real_start) * self.accel)

    def real_delay(self, until: datetime) -> float:
        return max(0.0, (until - self.now()).total_seconds() / self.accel)


@dataclass(order=True, slots=True)
class _Due:
    at: datetime
    order: int
    device: SimDevice = field(compare=False)
    extra: bool = field(compare=False, default=False)
    prompted: bool = field(compare=False, default=False)


class Simulation:
    def __init__(self, patients: Sequence[SimPatient], config: RunConfig) -> None:
        self.patients = patients
        self.config = config
        self.stats = DeviceStats()
        self._rng = random.Random(config.seed)
        self._baselines: dict[str, Baseline] = {
            p.patient_id: baseline_for(p.index, config.seed) for p in patients
        }
        self._index = {p.patient_id: p.index for p in patients}
        self._devices = [d for p in patients for d in p.devices]
        self._seq = _load_seqs(config.seq_file)
        self._conns: dict[str, DeviceConnection] = {}
        self.sent = 0
        self.sent_log: list[tuple[str, int, tuple[str, ...]]] = []
        self._prompts: deque[SimDevice] = deque()  # devices asked to measure again
        self._prompted = asyncio.Event()
        self.connected = asyncio.Event()  # set once every device is connected and subscribed

    async def run(self) -> DeviceStats:
        c = self.config
        await self._connect_all()
        self.connected.set()
        real_start = time.monotonic()
        span = (c.duration_s or 0.0) * (c.accel - 1.0)
        clock = SimClock(real_start, datetime.now(UTC) - timedelta(seconds=span), c.accel)
        progress = asyncio.create_task(self._progress(clock)) if c.progress else None
        try:
            if c.history_days:
                self._send_history(clock)
            if c.rate:
                await self._run_load(clock)
            else:
                await self._run_schedule(clock)
            await self._drain()
        finally:
            if progress is not None:
                progress.cancel()
            self._print_progress(clock, final=True)
            _save_seqs(c.seq_file, self._seq)
            for conn in self._conns.values():
                conn.disconnect()
        return self.stats

    @property
    def connections(self) -> list[DeviceConnection]:
        """The devices' connections (empty until `run` has connected them)."""
        return list(self._conns.values())

    async def _connect_all(self) -> None:
        c = self.config
        for d in self._devices:
            conn = DeviceConnection(
                d.device_id, device_password(c.secret, d.device_id), c.host, c.port, self.stats,
                max_inflight=c.max_inflight, resend_after_s=c.resend_after_s,
            )  # fmt: skip
            conn.on_message = functools.partial(self._on_patient_message, d)
            self._conns[d.device_id] = conn
        sem = asyncio.Semaphore(50)

        async def one(conn: DeviceConnection) -> None:
            async with sem:
                await conn.connect()

        await asyncio.gather(*(one(conn) for conn in self._conns.values()))

    def _deadline(self) -> float:
        return time.monotonic() + self.config.duration_s if self.config.duration_s else float("inf")

    def _budget_left(self) -> bool:
        return self.config.max_readings is None or self.sent < self.config.max_readings

    async def _run_schedule(self, clock: SimClock) -> None:
        heap = self._initial_schedule(clock)
        deadline = self._deadline()
        order = len(heap)
        while self._budget_left():
            while self._prompts:
                order += 1
                at = clock.now() + timedelta(seconds=self.config.remeasure_after_s)
                heapq.heappush(heap, _Due(at, order, self._prompts.popleft(), True, True))
            if not heap:
                return
            due = heap[0]
            delay = clock.real_delay(due.at)
            left = deadline - time.monotonic()
            if delay > left:
                if await self._prompt_within(left):
                    continue
                return
            if delay > 0 and await self._prompt_within(delay):
                continue  # a prompt may come before the next measurement
            heapq.heappop(heap)
            if due.extra or self._takes(due.device, due.at, clock):
                self._emit(due.device, due.at, clock)
            if due.prompted:
                self.stats.remeasured += 1
            if not due.extra:
                p = due.device.profile
                jitter = self._rng.uniform(-p.jitter_s, p.jitter_s)
                due.at = due.at + timedelta(seconds=p.cadence_s + jitter)
                heapq.heappush(heap, due)

    def _takes(self, d: SimDevice, at: datetime, clock: SimClock) -> bool:
        """Whether the patient takes this planned measurement (always, without adherence)."""
        if not self.config.adherence:
            return True
        day = (at - clock.sim_start).total_seconds() / 86_400
        return takes(self._index[d.patient_id], d.device_id, d.profile.kind, day)

    def _send_history(self, clock: SimClock) -> None:
        """The last `history_days` of measurements by hand, oldest first, as a backlog; only
        from devices that never sent anything (a device that ran before delivered its own)."""
        first = clock.sim_start - timedelta(days=self.config.history_days)
        due: list[tuple[datetime, int, SimDevice]] = []
        for i, d in enumerate(self._devices):
            if d.profile.kind not in BY_HAND or self._seq.get(d.device_id, 0) > 0:
                continue
            at = first + timedelta(seconds=self._rng.uniform(0, d.profile.cadence_s))
            while at < clock.sim_start:
                due.append((at, i, d))
                at += timedelta(seconds=d.profile.cadence_s)
        for at, _, d in sorted(due, key=lambda x: (x[0], x[1])):
            if self._takes(d, at, clock):
                self._emit(d, at, clock)

    def _on_patient_message(self, d: SimDevice, message: PatientMessage) -> None:
        """Called from the device's MQTT callback: only note the request and wake the loop."""
        if remeasure_of(message, d.profile.metrics):
            self._prompts.append(d)
            self._prompted.set()

    async def _prompt_within(self, delay_s: float) -> bool:
        """Wait up to `delay_s` (real seconds); True if a prompt arrived meanwhile."""
        try:
            await asyncio.wait_for(self._prompted.wait(), max(0.0, delay_s))
        except TimeoutError:
            return False
        self._prompted.clear()
        return True

    def _initial_schedule(self, clock: SimClock) -> list[_Due]:
        start = clock.sim_start
        heap = [
            _Due(start + timedelta(seconds=self._rng.uniform(0, d.profile.cadence_s)), i, d)
            for i, d in enumerate(self._devices)
        ]
        order = len(heap)
        for ep in self.config.episodes:
            for d in self._devices_of(ep.patient_index, ep.kind):
                for offset in ep.measure_at_s:
                    order += 1
                    heap.append(_Due(start + timedelta(seconds=offset), order, d, extra=True))
        heapq.heapify(heap)
        return heap

    def _devices_of(self, patient_index: int, kind: str) -> list[SimDevice]:
        return [
            d
            for d in self._devices
            if self._index[d.patient_id] == patient_index and d.profile.kind == kind
        ]

    async def _run_load(self, clock: SimClock) -> None:
        """Load mode: round-robin over devices at a fixed overall message rate."""
        assert self.config.rate is not None
        interval = 1.0 / self.config.rate
        deadline = self._deadline()
        next_at = time.monotonic()
        i = 0
        while self._budget_left() and time.monotonic() < deadline:
            d = self._devices[i % len(self._devices)]
            i += 1
            self._emit(d, clock.now(), clock)
            next_at += interval
            delay = next_at - time.monotonic()
            if delay > 0.001:
                await asyncio.sleep(delay)
            elif i % 256 == 0:
                await asyncio.sleep(0)  # let acks in

    def _emit(self, d: SimDevice, at: datetime, clock: SimClock) -> None:
        baseline = self._baselines[d.patient_id]
        readings = []
        for metric, unit in zip(d.profile.metrics, d.units, strict=True):
            true = true_value(baseline, metric, at) + self._episode_offset(d, metric, clock, at)
            readings.append(payloads.reading(metric, measure(metric, true, self._rng), unit))
        seq = self._seq.get(d.device_id, 0)
        self._seq[d.device_id] = seq + 1
        doc = payloads.message(d.device_id, seq, at, readings)
        self._conns[d.device_id].send(seq, payloads.encode(doc))
        self.sent += 1
        if self.config.record:
            self.sent_log.append((d.device_id, seq, d.profile.metrics))

    def _episode_offset(self, d: SimDevice, metric: str, clock: SimClock, at: datetime) -> float:
        index = self._index[d.patient_id]
        return sum(
            ep.offsets.get(metric, 0.0)
            for ep in self.config.episodes
            if ep.patient_index == index and ep.active(clock.sim_start, at)
        )

    async def _drain(self) -> None:
        """Give outstanding readings a moment to be acknowledged end to end."""
        end = time.monotonic() + self.config.drain_s
        while time.monotonic() < end and any(c.unacked for c in self._conns.values()):
            for conn in self._conns.values():
                conn.resend_overdue(time.monotonic())
            await asyncio.sleep(0.1)

    async def _progress(self, clock: SimClock) -> None:
        while True:
            await asyncio.sleep(1.0)
            for conn in self._conns.values():
                conn.resend_overdue(time.monotonic())
            self._print_progress(clock)

    def _print_progress(self, clock: SimClock, final: bool = False) -> None:
        if not self.config.progress:
            return
        s = self.stats
        unacked = sum(c.unacked for c in self._conns.values())
        line = (
            f"sim {clock.now():%Y-%m-%d %H:%M:%S} | published {s.published} | puback {s.pubacked}"
            f" | e2e-acked {s.e2e_acked} | unacked {unacked} | refused {sum(s.refused.values())}"
            f" | errors {sum(s.errors.values())} | messages {s.messages}"
            f" (re-measured {s.remeasured})"
        )
        end = "\n" if final or not sys.stderr.isatty() else "\r"
        print(line, end=end, file=sys.stderr, flush=True)


def _load_seqs(path: Path | None) -> dict[str, int]:
    if path is None or not path.exists():
        return {}
    return {str(k): int(v) for k, v in json.loads(path.read_text()).items()}


def _save_seqs(path: Path | None, seqs: dict[str, int]) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    merged = {**_load_seqs(path), **seqs}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(merged))
    tmp.replace(path)
