"""The schema on real PostgreSQL, in both storage modes, and the batched idempotent sink."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from pydantic import SecretStr

from api import registry
from ingest.bindings import BindingIndex
from ingest.bound import BoundMessage
from ingest.contract import DeviceMessage, Measurement
from ingest.repository import load_bindings, watch_bindings
from stream.sink import PgReadingStore
from tests.integration.conftest import Databases, eventually, timescaledb_available
from vigil.migrate import MIGRATIONS_DIR, MigrationError, migrate, storage_mode
from vigil.runtime import open_pool
from vigil.settings import Settings

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(params=["plain", "timescaledb"])
def mode(request: pytest.FixtureRequest, settings: Settings) -> str:
    if request.param == "timescaledb" and not timescaledb_available(settings):
        pytest.skip(
            "TimescaleDB is not installed for this PostgreSQL: only plain mode is tested here"
        )
    return str(request.param)


def test_migrations_apply_in_both_modes_and_report_them(
    databases: Databases, tag: str, mode: str
) -> None:
    dsn = databases.create(tag, mode)
    assert migrate(dsn) == []  # idempotent: nothing left to apply
    with psycopg.connect(dsn) as conn:
        reported = storage_mode(conn)
        hypertables = conn.execute(
            "SELECT count(*) FROM pg_extension e WHERE e.extname = 'timescaledb'"
        ).fetchone()
        assert reported.name == mode
        if mode == "timescaledb":
            assert hypertables == (1,)
            rows = conn.execute(
                "SELECT hypertable_name FROM timescaledb_information.hypertables"
            ).fetchall()
            assert rows == [("readings",)]
            assert "TimescaleDB" in str(reported)
        else:
            assert "timescaledb extension not in use" in str(reported)


def test_an_edited_migration_is_refused(databases: Databases, tag: str, tmp_path: Path) -> None:
    dsn = databases.create(tag)
    copy = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, copy)
    first = sorted(copy.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited\n")
    with pytest.raises(MigrationError, match="edited"):
        migrate(dsn, directory=copy)


def message(device: str, seq: int, minutes: float, *values: tuple[str, float]) -> DeviceMessage:
    t = NOW - timedelta(minutes=minutes)
    ms = tuple(Measurement(m, v, "mm[Hg]", v, "mm[Hg]") for m, v in values)
    return DeviceMessage(device, seq, t, NOW, ms, {"posture": "sitting"} if seq % 2 else None)


@pytest.mark.asyncio
async def test_the_sink_stores_a_batch_once_however_often_it_is_written(
    databases: Databases, tag: str, mode: str
) -> None:
    dsn = databases.create(tag, mode)
    batch = [
        BoundMessage(
            "p1", message("cuff-1", s, s, ("systolic_bp", 120.0 + s), ("diastolic_bp", 80.0))
        )
        for s in range(50)
    ]
    store = PgReadingStore(dsn)
    try:
        assert await store.write(batch[:20] + batch[:3]) == 40  # duplicates within one batch
        assert (store.direct_batches, store.deduplicated_batches) == (0, 1)
        assert await store.write(batch[20:]) == 60  # all new: the direct COPY
        assert (store.direct_batches, store.deduplicated_batches) == (1, 1)
        assert await store.write(batch) == 0
        assert await store.write(batch[::-1] + batch[:5]) == 0
        extra = [BoundMessage("p1", message("cuff-1", 50, 0.5, ("systolic_bp", 181.0)))]
        assert await store.write(batch[:10] + extra) == 1
        assert (store.direct_batches, store.deduplicated_batches) == (1, 4)
    finally:
        await store.close()
    # A big batch is split over the store's two connections by device, each part its own
    # transaction; a device's readings (and their redeliveries) stay in one part.
    big = [
        BoundMessage("p1", message(f"cuff-{2 + s % 8}", s, s / 100, ("systolic_bp", 120.0),
                                   ("diastolic_bp", 80.0)))
        for s in range(600)
    ]  # fmt: skip
    store = PgReadingStore(dsn, writers=2)
    try:
        assert await store.write(big) == 1200
        assert (store.direct_batches, store.deduplicated_batches) == (2, 0)
        assert await store.write(big[100:] + big[:10]) == 0  # 1,020 rows: two parts again
        assert (store.direct_batches, store.deduplicated_batches) == (2, 2)
    finally:
        await store.close()
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT count(*), count(context) FROM readings WHERE device_id = 'cuff-1'"
        ).fetchone()
        assert rows == (101, 50)
        assert conn.execute("SELECT count(*) FROM readings").fetchone() == (1301,)
        kept = conn.execute(
            "SELECT value, unit, orig_value, orig_unit, context FROM readings WHERE seq = 1 AND metric = 'systolic_bp'"
        ).fetchone()
        assert kept == (121.0, "mm[Hg]", 121.0, "mm[Hg]", {"posture": "sitting"})


@pytest.mark.asyncio
async def test_bindings_never_overlap_and_changes_reach_the_ingest(
    settings: Settings, databases: Databases, tag: str
) -> None:
    dsn = databases.create(tag)
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await registry.upsert_team(conn, "t", "Team")
        for p in ("alice", "bob"):
            await registry.upsert_patient(conn, p, "t", p)
        await registry.upsert_device(conn, "cuff-1", "bp_cuff", 43200)
        await registry.bind_device(
            conn, "cuff-1", "alice", NOW - timedelta(days=2), reason="enrolled", changed_by="admin"
        )
        with pytest.raises(psycopg.errors.ExclusionViolation):
            await conn.execute(
                "INSERT INTO device_bindings (device_id, patient_id, valid_from) VALUES ('cuff-1', 'bob', %s)",
                (NOW - timedelta(days=1),),
            )

    seen: list[BindingIndex] = []
    s = settings.model_copy(update={"db": settings.db.model_copy(update={"dsn": SecretStr(dsn)})})
    async with open_pool(s) as pool:
        assert (await load_bindings(pool)).patient_at("cuff-1", NOW) == "alice"
        watcher = asyncio.create_task(watch_bindings(pool, dsn, seen.append, refresh_s=3600))
        try:

            async def loaded() -> bool:
                return bool(seen)

            assert await eventually(loaded)
            async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
                await registry.bind_device(
                    conn,
                    "cuff-1",
                    "bob",
                    NOW - timedelta(hours=1),
                    reason="re-assigned",
                    changed_by="admin",
                )

            async def reassigned() -> bool:
                return seen[-1].patient_at("cuff-1", NOW) == "bob"

            assert await eventually(reassigned, timeout_s=10)
            latest = seen[-1]
            assert (
                latest.patient_at("cuff-1", NOW - timedelta(hours=2)) == "alice"
            )  # a backlog from before
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
