"""The ingest loop's ordering guarantees (ingest/loop.py), with the MQTT adapter and the service
replaced by recorders: batches are decoded ahead but stored strictly in arrival order, a retried
batch is stored before anything that arrived after it, nothing is acknowledged before it is
durable, and PUBACKs go out in arrival order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from ingest.loop import run_ingest
from ingest.mqtt import MqttReceiver
from ingest.ports import RawMessage
from ingest.service import BatchResult, DecodedBatch, IngestService

pytestmark = pytest.mark.asyncio

NOW = datetime(2026, 12, 2, tzinfo=UTC)


class UnavailableError(Exception):
    """Stands for a retriable failure (database or bus unavailable)."""


class Receiver:
    def __init__(self, batches: Sequence[Sequence[int]]) -> None:
        self._batches = [[RawMessage("t", b"", NOW, mid) for mid in b] for b in batches]
        self.acked: list[int] = []
        self.sessions_lost = 0

    async def batches(self, max_messages: int, linger_s: float) -> AsyncIterator[list[RawMessage]]:
        for batch in self._batches:
            await asyncio.sleep(0)
            yield batch
        await asyncio.Event().wait()

    def ack(self, messages: Iterable[RawMessage]) -> int:
        mids = [m.mid for m in messages]
        self.acked += mids
        return len(mids)

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        pass


class Service:
    """Stores what it is given, in the order given; fails the first attempt for `failing`."""

    def __init__(self, receiver: Receiver, failing: int | None = None, fatal: int | None = None):
        self.receiver = receiver
        self.failing, self.fatal = failing, fatal
        self.stored: list[int] = []
        self.acked_before_durable: list[int] = []

    def decode(self, batch: Sequence[RawMessage]) -> DecodedBatch:
        return DecodedBatch(batch, [], [])

    async def store(self, batches: Sequence[DecodedBatch]) -> BatchResult:
        mids = [m.mid for b in batches for m in b.raw]
        self.acked_before_durable += [m for m in mids if m in self.receiver.acked]
        await asyncio.sleep(0.01)  # the write takes time: later batches are decoded meanwhile
        if self.fatal in mids:
            raise RuntimeError("not retriable")
        if self.failing in mids:
            self.failing = None
            raise UnavailableError
        self.stored += mids
        return BatchResult({}, {}, 0)

    def housekeeping(self, now: datetime) -> None:
        pass

    async def raise_alarm(self, alert: Any) -> None:
        pass


def start(receiver: Receiver, service: Service) -> asyncio.Task[None]:
    return asyncio.create_task(
        run_ingest(
            cast(MqttReceiver, receiver),
            cast(IngestService, service),
            clock=lambda: NOW,
            retriable=(UnavailableError,),
            in_flight=3,
        )
    )


async def run(receiver: Receiver, service: Service, until: int) -> None:
    task = start(receiver, service)
    async with asyncio.timeout(10):
        while len(receiver.acked) < until and not task.done():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


BATCHES = [[1, 2], [3], [4, 5, 6], [7], [8, 9], [10]]


@pytest.mark.parametrize("failing", [None, 1, 3, 7, 10], ids=lambda f: f"retry-{f}")
async def test_batches_are_stored_and_acknowledged_in_arrival_order(failing: int | None) -> None:
    receiver = Receiver(BATCHES)
    service = Service(receiver, failing=failing)
    await run(receiver, service, until=10)
    assert service.stored == list(range(1, 11))
    assert receiver.acked == list(range(1, 11))
    assert service.acked_before_durable == []


async def test_a_fatal_error_stops_the_ingest_and_nothing_after_it_is_acknowledged() -> None:
    receiver = Receiver(BATCHES)
    service = Service(receiver, fatal=7)
    task = start(receiver, service)
    with pytest.raises(RuntimeError, match="not retriable"):
        await asyncio.wait_for(task, 10)
    assert 7 not in receiver.acked and receiver.acked == sorted(receiver.acked)
    assert set(receiver.acked) <= set(service.stored)
