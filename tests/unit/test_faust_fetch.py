"""The Faust worker's consumer waits at most the configured time per fetch (issue 15).

faust-streaming builds the worker's aiokafka consumer with a fetch wait of 1,500 ms; with one
fetch in flight per broker, readings waited behind it (stream/faust_fetch.py). These tests build
the worker's app from the settings and read back what its consumer would be created with.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.settings import Settings
from vigil.worker import make_app


async def _worker_consumer_wait_ms(settings: Settings) -> int:
    app = make_app(settings)
    thread = app.consumer._thread  # type: ignore[attr-defined]  # faust's delegate thread
    consumer = thread._create_worker_consumer(app.transport)  # not started: no broker needed
    try:
        return int(consumer._fetch_max_wait_ms)
    finally:
        await consumer.stop()


def _settings(tmp_path: Path, **kafka: object) -> Settings:
    base = Settings(state_dir=tmp_path)
    return base.model_copy(update={"kafka": base.kafka.model_copy(update=kafka)})


@pytest.mark.asyncio
@pytest.mark.parametrize("wait_ms", [5, 20, 250])
async def test_the_worker_consumer_fetch_wait_is_the_setting(tmp_path: Path, wait_ms: int) -> None:
    assert await _worker_consumer_wait_ms(_settings(tmp_path, fetch_max_wait_ms=wait_ms)) == wait_ms


@pytest.mark.asyncio
async def test_the_default_fetch_wait_is_short_enough_for_the_latency_target(
    tmp_path: Path,
) -> None:
    # faust_p99_ms <= 250 (issue 15): a fetch may hold readings for the whole wait
    assert await _worker_consumer_wait_ms(_settings(tmp_path)) <= 50
