"""The Faust app class of the worker: Faust's own, with the consumer's fetch wait configurable.

Why: faust-streaming (0.15) builds the worker's aiokafka consumer with `fetch_max_wait_ms=1500`
hard-coded, and aiokafka keeps one fetch request in flight per broker. A request is made of the
partitions that have no unconsumed records; with one broker, while the worker works on records
just fetched, the next request carries only the quiet partitions (the other readings partitions,
the leader-assignor topic) and the broker holds it for up to the full wait when none of them
gets data. The partitions the worker has just consumed cannot be fetched again before that
request returns: readings waited 0-1.5 s at the broker (`vigil bench stream`, faust_p50 1.4 s at
1,000 readings/s). A short wait returns that request, and the next one includes them, within
milliseconds; the cost is an empty fetch every `fetch_max_wait_ms` while the topic is idle.

Must not: change anything else about the consumer (offsets, commits, assignment are Faust's).
"""

from __future__ import annotations

import logging
from typing import Any

import aiokafka
import faust
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Consumer

DEFAULT_FETCH_MAX_WAIT_MS = 20
log = logging.getLogger(__name__)


class _ConsumerThread(AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka's constructor stores the argument here and hands it to its fetcher at start();
        # faust passes its constant, so the setting replaces it before the consumer starts.
        consumer._fetch_max_wait_ms = fetch_max_wait_ms(self.app)
        log.info("worker consumer: fetch_max_wait_ms=%d", consumer._fetch_max_wait_ms)
        return consumer


class _Consumer(Consumer):
    def _new_consumer_thread(self) -> AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class VigilFaustApp(faust.App):
    """`faust.App` whose worker consumer waits at most `fetch_max_wait_ms` per fetch."""

    fetch_max_wait_ms: int = DEFAULT_FETCH_MAX_WAIT_MS

    def _new_transport(self) -> Any:
        transport = super()._new_transport()
        transport.Consumer = _Consumer  # type: ignore[misc]  # the instance's: create_consumer uses it
        return transport


def fetch_max_wait_ms(app: Any) -> int:
    return int(getattr(app, "fetch_max_wait_ms", DEFAULT_FETCH_MAX_WAIT_MS))
