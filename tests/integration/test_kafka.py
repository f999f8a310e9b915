"""The Kafka hand-off: durable producer settings, in effect, and the wire format on the topic."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaConsumer

from ingest import bound
from ingest.bound import BoundMessage
from ingest.contract import DeviceMessage, Measurement
from ingest.kafka import KafkaHandoff, ensure_topic
from vigil.settings import Settings

pytestmark = [pytest.mark.asyncio, pytest.mark.kafka]


async def test_the_producer_runs_with_acks_all_and_idempotence(
    settings: Settings, tag: str
) -> None:
    topic = f"vigil.readings.{tag}"
    await ensure_topic(settings.kafka.bootstrap, topic, 4)
    await ensure_topic(settings.kafka.bootstrap, topic, 4)  # idempotent
    handoff = KafkaHandoff(settings.kafka.bootstrap, topic)
    await handoff.start()
    try:
        config = handoff.effective_config()
        # acks=all is -1 on the wire; the broker handed out a producer id for idempotence
        assert config["acks"] == -1
        assert config["enable_idempotence"] is True
        assert isinstance(config["producer_id"], int) and config["producer_id"] >= 0

        now = datetime.now(UTC)
        sent = [
            BoundMessage(
                f"patient-{i % 3}",
                DeviceMessage(
                    f"dev-{i}", i, now, now, (Measurement("spo2", 97.0, "%", 97.0, "%"),)
                ),
            )
            for i in range(9)
        ]
        handed_at = time.time()
        await handoff.hand_off(sent)
    finally:
        await handoff.stop()

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=settings.kafka.bootstrap, auto_offset_reset="earliest",
                                group_id=f"test-{tag}", enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    try:
        received, stamps = [], []
        while len(received) < len(sent):
            batch = await consumer.getmany(timeout_ms=5000)
            assert batch, "nothing arrived"
            for records in batch.values():
                received += [(r.key, bound.decode(r.value), r.partition) for r in records]
                stamps += [(r.timestamp_type, r.timestamp / 1000) for r in records]
    finally:
        await consumer.stop()
    # stamped by the broker at append (LogAppendTime = 1), for the worker's stage latencies
    assert all(kind == 1 and handed_at - 1 <= at <= time.time() for kind, at in stamps)
    assert sorted((m for _, m, _ in received), key=lambda b: b.message.seq) == sent
    # keyed by patient: one patient's readings always land on one partition
    partitions: dict[bytes, set[int]] = {}
    for key, _, partition in received:
        partitions.setdefault(key, set()).add(partition)
    assert all(len(p) == 1 for p in partitions.values())
    assert set(partitions) == {b"patient-0", b"patient-1", b"patient-2"}
