"""FHIR bulk export of a care team (`Group/{team}/$export`, issue 13): the job's rows and files.

`write_files` writes one NDJSON file per resource type (Patient, Device, Observation, Flag) into a
job's directory from one REPEATABLE READ snapshot, so every file and count describes the same
moment. Observations stream from a server-side cursor and are serialised with orjson straight
from `reports.fhir`'s dicts: memory stays flat whatever the team's size.

The jobs live in `fhir_export_jobs` (migration 0012); the files under the directory the API was
given (`<state_dir>/fhir-exports/<job id>/`), never in git or the database. `purge` removes
expired jobs' rows and files.

Must not: decide who may export or read (the API does); keep PHI anywhere but the job directory.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

import orjson
from psycopg import AsyncConnection, IsolationLevel
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from reports import fhir
from reports import fhir_store as store

TYPES = ("Patient", "Device", "Observation", "Flag")
STALE_AFTER = timedelta(hours=1)  # a job running longer was cut off (its process stopped)
_NL = b"\n"


@dataclass(frozen=True, slots=True)
class ExportPlace:
    """Where a process keeps export files, and for how long (settings, via the composition
    root)."""

    root: Path
    keep: timedelta

    def directory(self, job_id: uuid.UUID) -> Path:
        return self.root / str(job_id)


@dataclass(frozen=True, slots=True)
class Job:
    id: uuid.UUID
    team_id: str
    requested_by: str
    requested_at: datetime
    status: str  # running, completed, failed
    finished_at: datetime | None
    expires_at: datetime
    output: list[dict[str, Any]]
    error: str | None

    def state(self, now: datetime) -> str:
        if self.status == "running" and now - self.requested_at > STALE_AFTER:
            return "failed"
        return self.status


def _ndjson(resources: Iterable[dict[str, Any]]) -> bytes:
    dumps = orjson.dumps
    return b"".join(dumps(r) + _NL for r in resources)


async def _observations(conn: AsyncConnection[Any], team_id: str, out: IO[bytes]) -> int:
    """Stream the team's Observations into `out`. Each batch is mapped and written in a worker
    thread while the next one is fetched: the database and the mapping overlap, and the API's
    event loop keeps answering while an export runs. Batches are written in order."""
    n = 0
    writing: asyncio.Future[None] | None = None

    def write(rows: list[fhir.ReadingRow]) -> None:
        out.write(_ndjson(map(fhir.observation, rows)))

    try:
        async for rows in store.team_observations(conn, team_id):
            if writing is not None:
                await writing
            writing = asyncio.ensure_future(asyncio.to_thread(write, rows))
            n += len(rows)
    finally:
        if writing is not None:
            await writing
    return n


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


async def write_files(pool: AsyncConnectionPool, team_id: str, directory: Path) -> dict[str, int]:
    """Write the team's NDJSON files into `directory`; the count of resources per type."""
    counts: dict[str, int] = {}
    async with pool.connection() as conn:
        await conn.set_isolation_level(IsolationLevel.REPEATABLE_READ)
        try:
            async with conn.transaction():
                small = {
                    "Patient": [fhir.patient(p) for p in await store.team_patients(conn, team_id)],
                    "Device": [fhir.device(d) for d in await store.team_devices(conn, team_id)],
                    "Flag": [fhir.flag(a) for a in await store.team_flags(conn, team_id)],
                }
                for kind, items in small.items():
                    await asyncio.to_thread(_write, directory / f"{kind}.ndjson", _ndjson(items))
                    counts[kind] = len(items)
                out = await asyncio.to_thread((directory / "Observation.ndjson").open, "wb")
                try:
                    counts["Observation"] = await _observations(conn, team_id, out)
                finally:
                    await asyncio.to_thread(out.close)
        finally:
            await conn.set_isolation_level(None)
    return {kind: counts[kind] for kind in TYPES}


# The jobs' rows -------------------------------------------------------------------------------

_COLUMNS = ("id, team_id, requested_by, requested_at, status, finished_at, expires_at, output,"
            " error")  # fmt: skip


async def create(
    conn: AsyncConnection[Any], team_id: str, requested_by: str, now: datetime, keep: timedelta
) -> uuid.UUID:
    job_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO fhir_export_jobs (id, team_id, requested_by, requested_at, status,"
        " expires_at) VALUES (%s, %s, %s, %s, 'running', %s)",
        (job_id, team_id, requested_by, now, now + keep),
    )
    return job_id


async def get(conn: AsyncConnection[Any], job_id: uuid.UUID) -> Job | None:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(f"SELECT {_COLUMNS} FROM fhir_export_jobs WHERE id = %s", (job_id,))
    row = await cur.fetchone()
    return None if row is None else Job(**row)


async def finish(
    conn: AsyncConnection[Any],
    job_id: uuid.UUID,
    now: datetime,
    counts: dict[str, int] | None,
    error: str | None = None,
) -> None:
    output = [{"type": k, "count": n} for k, n in (counts or {}).items()]
    await conn.execute(
        "UPDATE fhir_export_jobs SET status = %s, finished_at = %s, output = %s, error = %s"
        " WHERE id = %s AND status = 'running'",
        ("failed" if counts is None else "completed", now, Jsonb(output), error, job_id),
    )


async def purge(conn: AsyncConnection[Any], root: Path, now: datetime) -> int:
    """Delete expired jobs and their files; how many."""
    cur = await conn.execute(
        "DELETE FROM fhir_export_jobs WHERE expires_at <= %s RETURNING id", (now,)
    )
    gone = [row[0] for row in await cur.fetchall()]
    for job_id in gone:
        await asyncio.to_thread(shutil.rmtree, root / str(job_id), ignore_errors=True)
    return len(gone)


async def remove(conn: AsyncConnection[Any], root: Path, job_id: uuid.UUID) -> None:
    """Delete one job and its files (a client's DELETE on the status URL)."""
    await conn.execute("DELETE FROM fhir_export_jobs WHERE id = %s", (job_id,))
    await asyncio.to_thread(shutil.rmtree, root / str(job_id), ignore_errors=True)


async def run(
    pool: AsyncConnectionPool,
    job_id: uuid.UUID,
    team_id: str,
    root: Path,
    clock: Callable[[], datetime],
) -> None:
    """Run one job to its end: files written and the row completed, or the row failed (with
    the error's class only: a database error's text can quote PHI)."""
    try:
        counts = await write_files(pool, team_id, root / str(job_id))
    except Exception as exc:
        await asyncio.to_thread(shutil.rmtree, root / str(job_id), ignore_errors=True)
        async with pool.connection() as conn:
            await finish(conn, job_id, clock(), None, type(exc).__name__)
        raise
    async with pool.connection() as conn:
        await finish(conn, job_id, clock(), counts)
