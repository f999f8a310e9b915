"""Kafka adapter of the ingest: hand bound readings to the readings topic, durably.

One record per device message, keyed by patient id (one patient's readings stay ordered on one
partition), produced with acks=all and idempotence on. `hand_off` returns only when the broker has
acknowledged every record of the batch, which is when the ingest may send its MQTT PUBACKs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from ingest import bound
from ingest.bound import BoundMessage


class KafkaHandoff:
    def __init__(self, bootstrap: str, topic: str, *, client_id: str = "vigil-ingest") -> None:
        self._topic = topic
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            client_id=client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=2,
            max_batch_size=256 * 1024,
            request_timeout_ms=30_000,
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def hand_off(self, messages: Sequence[BoundMessage]) -> None:
        if not messages:
            return
        send = self._producer.send
        topic = self._topic
        futures = [await send(topic, bound.encode(m), key=m.patient_id.encode()) for m in messages]
        await asyncio.gather(*futures)

    def effective_config(self) -> dict[str, Any]:
        """What the producer actually runs with (read back from aiokafka, for tests and logs)."""
        p = self._producer
        txn = p._txn_manager  # aiokafka keeps idempotence state here
        return {
            "acks": p._sender._acks,
            "enable_idempotence": txn is not None,
            "producer_id": None if txn is None else txn.producer_id,
        }


# A record's timestamp is when the broker appended it: the worker's stage latencies
# (stream/stage_times.py) then split the ingest's hand-off from the consumer's fetch. Nothing
# else reads it (readings carry their measurement and receipt times).
TOPIC_CONFIG = {"message.timestamp.type": "LogAppendTime"}


async def ensure_topic(bootstrap: str, topic: str, partitions: int, replication: int = 1) -> None:
    """Create the readings topic if it does not exist (idempotent; producers and workers call it
    at start so neither depends on broker auto-creation or on who starts first). An existing
    topic keeps its configuration."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        if topic in await admin.list_topics():
            return
        with contextlib.suppress(TopicAlreadyExistsError):  # another process was quicker
            await admin.create_topics(
                [NewTopic(topic, partitions, replication, topic_configs=TOPIC_CONFIG)]
            )
    finally:
        await admin.close()
