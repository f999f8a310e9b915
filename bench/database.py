"""The benchmarks' own database, and what they read from it to measure.

`bench_database` re-creates `vigil_bench` (TimescaleDB when installed, plain PostgreSQL with
VIGIL_DB__MODE=plain) and migrates it; `enrolled` adds the demo cohort the benches drive. The
other functions are the benches' measurements (counts, latest seq, detection times) and resets
between phases: reads and truncations of the bench database no product repository offers.
Must not: write product data with SQL of its own (the product's public functions do that), or
touch any database but the benches' own (`vigil_bench`, `vigil_bench_ui`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo
from pydantic import SecretStr

from simulators.fleet import SimPatient, cohort
from vigil.demo import enrol_demo
from vigil.migrate import migrate
from vigil.settings import Settings

BENCH_DB = "vigil_bench"
PATIENTS = 50  # the demo cohort every bench enrols (seed 1, prefix "bench")


def bench_database(settings: Settings, name: str = BENCH_DB) -> tuple[str, str]:
    """Drop and re-create `name` (a bench's own database), migrate it; return (its DSN, the
    storage mode)."""
    if not name.startswith(BENCH_DB):
        raise ValueError(f"a bench database is named {BENCH_DB}*, not {name!r}")
    admin = settings.db.admin_dsn.get_secret_value()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" OWNER vigil')
        ts = conn.execute(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
            " AND current_setting('shared_preload_libraries') LIKE '%timescaledb%'"
        ).fetchone()
    if settings.db.mode == "plain":  # VIGIL_DB__MODE=plain: measure plain PostgreSQL, as CI runs
        ts = None
    if ts is not None:
        with psycopg.connect(make_conninfo(admin, dbname=name), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    dsn = make_conninfo(settings.db.dsn.get_secret_value(), dbname=name)
    migrate(dsn)
    return dsn, "timescaledb" if ts is not None else "plain"


@dataclass(frozen=True, slots=True)
class Bench:
    """A fresh bench database with the demo cohort enrolled."""

    settings: Settings  # the caller's, with the DSN of the bench database
    dsn: str
    storage_mode: str
    patients: list[SimPatient]


async def enrolled(
    settings: Settings, program: bool = False, patients: int = PATIENTS, prefix: str = "bench"
) -> Bench:
    """A fresh bench database (`bench_database`) with the demo cohort enrolled (in the care
    program too with `program`: plans, reminders, follow-up calls)."""
    dsn, mode = bench_database(settings)
    settings = settings.model_copy(
        update={"db": settings.db.model_copy(update={"dsn": SecretStr(dsn)})}
    )
    await enrol_demo(settings, patients=patients, seed=1, prefix=prefix, dsn=dsn, program=program)
    return Bench(settings, dsn, mode, cohort(patients, 1, prefix=prefix))


async def _scalar(dsn: str, sql: str) -> int:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        row = await (await conn.execute(sql)).fetchone()
    return int(row[0]) if row else 0


async def stored_readings(dsn: str) -> int:
    return await _scalar(dsn, "SELECT count(*) FROM readings")


async def stored_messages(dsn: str) -> tuple[set[tuple[str, int]], int]:
    """(device id, seq) of every stored message, and the duplicate readings: rows beyond one
    per (device id, seq, metric)."""
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        keys = await (await conn.execute("SELECT DISTINCT device_id, seq FROM readings")).fetchall()
        row = await (await conn.execute(
            "SELECT count(*) - count(DISTINCT (device_id, seq, metric)) FROM readings"
        )).fetchone()  # fmt: skip
    return {(str(d), int(s)) for d, s in keys}, int(row[0]) if row else 0


async def alerts_of(dsn: str, rule: str) -> dict[str, int]:
    """Patient -> alerts of `rule` ever opened (open, acknowledged or resolved)."""
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        cur = await conn.execute(
            "SELECT patient_id, count(*) FROM alerts WHERE rule_id = %s GROUP BY patient_id",
            (rule,),
        )
        return {str(p): int(n) for p, n in await cur.fetchall()}


async def quarantined(dsn: str) -> dict[str, int]:
    """Rejected or quarantined input by reason."""
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        cur = await conn.execute("SELECT reason, count(*) FROM rejected_readings GROUP BY reason")
        return {str(r): int(n) for r, n in await cur.fetchall()}


async def max_event_seq(dsn: str) -> int:
    """The highest alert-event seq (0 when there is none)."""
    return await _scalar(dsn, "SELECT COALESCE(max(seq), 0) FROM alert_events")


async def truncate_readings(dsn: str) -> None:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await conn.execute("TRUNCATE readings, reading_messages")  # the messages' keys too


async def reset(dsn: str) -> None:
    """Empty every table a run writes to (the enrolment stays)."""
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await conn.execute(
            "TRUNCATE readings, reading_messages, detections, alert_events, pages,"
            " patient_messages, audit_log, alerts, stream_states, rejected_readings,"
            " follow_up_records, care_tasks, risk_history, patient_risk, risk_passes"
        )


@dataclass(frozen=True, slots=True)
class Fired:
    detection_id: str
    device_id: str
    seq: int
    created_at_s: float  # epoch seconds: when the writer's transaction began
    late: bool


async def fired(dsn: str, rules: tuple[str, ...]) -> list[Fired]:
    """Detections of `rules` that fired, late ones included."""
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        cur = await conn.execute(
            "SELECT id, device_id, seq, extract(epoch FROM created_at), late FROM detections"
            " WHERE rule_id = ANY(%s) AND kind = 'fired'",
            (list(rules),),
        )
        rows: list[Any] = await cur.fetchall()
    return [Fired(str(uuid.UUID(str(i))), d, int(s), float(t), bool(late))
            for i, d, s, t, late in rows]  # fmt: skip
