"""An in-process ingest on real PostgreSQL: the production service, bus, pipeline and stores.

`IngestWorld` wires `IngestService` -> `EmbeddedBus` -> `StreamPipeline` -> `PgReadingStore` /
`PgAlertStore` exactly as `vigil run` does (minus MQTT: tests hand raw messages to
`IngestService.handle`), with one enrolled patient whose devices are bound from the epoch on.
Used by the ingest-integrity tests of issue 14 (poison messages, duplicates, acks).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from alerts.repository import PgAlertStore
from api import registry
from ingest.bindings import Binding, BindingIndex
from ingest.contract import DEFAULT_LIMITS, Limits, readings_topic
from ingest.ports import RawMessage
from ingest.repository import PgHandledSeqs, PgRejectionStore, PgTechnicalAlarms
from ingest.service import BatchResult, IngestService
from stream.embedded import EmbeddedBus
from stream.pipeline import StreamPipeline
from stream.sink import PgReadingStore
from vigil.runtime import RETRIABLE
from vigil.settings import Settings
from vigil.streaming import build_core

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class IngestWorld:
    service: IngestService
    pipeline: StreamPipeline
    pool: AsyncConnectionPool
    patient: str

    async def send(self, device: str, *payloads: bytes, at: datetime | None = None) -> BatchResult:
        received = at or datetime.now(UTC)
        raw = [RawMessage(readings_topic(device), p, received) for p in payloads]
        return await self.service.handle(raw)

    async def rows(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(sql, args)
            return await cur.fetchall()


@contextlib.asynccontextmanager
async def ingest_world(
    settings: Settings,
    dsn: str,
    tag: str,
    devices: Sequence[str],
    *,
    limits: Limits = DEFAULT_LIMITS,
    pipeline_quarantine: bool = True,
) -> AsyncIterator[IngestWorld]:
    patient = f"{tag}-p"
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await registry.upsert_team(conn, f"{tag}-team", "Team")
        await registry.upsert_patient(conn, patient, f"{tag}-team", "Patient")
        for device in devices:
            await registry.upsert_device(conn, device, "bp_cuff", 3600)
    pool = AsyncConnectionPool(dsn, min_size=1, max_size=4, open=False)
    await pool.open(wait=True)
    store = PgReadingStore(dsn)
    quarantine = PgRejectionStore(pool) if pipeline_quarantine else None
    pipeline = StreamPipeline(store, PgAlertStore(pool), build_core(settings),
                              monotonic=time.monotonic, retriable=RETRIABLE,
                              quarantine=quarantine)  # fmt: skip
    bus = EmbeddedBus(pipeline)
    bindings = BindingIndex([Binding(d, patient, EPOCH, None, "bp_cuff", 3600.0) for d in devices])
    service = IngestService(bus, PgRejectionStore(pool), PgTechnicalAlarms(pool), limits=limits,
                            bindings=bindings, retriable=RETRIABLE,
                            handled=PgHandledSeqs(pool))  # fmt: skip
    runner = asyncio.create_task(bus.run())
    try:
        yield IngestWorld(service, pipeline, pool, patient)
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
        await store.close()
        await pool.close()
