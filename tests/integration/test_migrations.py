"""The migration runner on real PostgreSQL: a database that 0002 could not upgrade (duplicate
rejected readings) upgrades with the 0001a repair, through the `vigil db migrate` command; a
database that applied 0002 before the repair existed applies it out of order and is unchanged;
the bookkeeping of databases migrated by the earlier runner (integer versions) is widened."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from tests.conftest import REPO
from tests.integration.conftest import Databases
from vigil.migrate import MIGRATIONS_DIR, migrate

REPAIR = "0001a_rejected_readings_once.sql"
AT = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
TOPIC = "vigil/v1/devices/bp-0007/readings"

# (topic, seq, metric, reason, payload): as an ingest before 0002 stored them, with repeats.
REFUSALS = [
    (TOPIC, 41, "systolic_bp", "implausible", b'{"seq":41,"sbp":400}'),  # 1st copy, kept
    (TOPIC, 41, "systolic_bp", "implausible", b'{"seq":41,"sbp":400}'),  # redelivered
    (TOPIC, 41, "systolic_bp", "implausible", b'{"seq":41,"sbp":400}'),  # and again
    (TOPIC, 41, "diastolic_bp", "implausible", b'{"seq":41,"sbp":400}'),  # another metric
    (TOPIC, None, None, "malformed", b"{not json"),  # kept
    (TOPIC, None, None, "malformed", b"{not json"),  # duplicate (NULL seq and metric)
    (TOPIC, None, None, "malformed", b"{not json either"),  # other bytes: kept
    ("vigil/v1/devices/bp-0008/readings", None, None, "malformed", b"{not json"),  # other topic
]
KEPT = [1, 4, 5, 7, 8]  # ids (in insertion order) that survive


def migrations_without(tmp_path: Path, *names: str) -> Path:
    """A copy of infra/migrations without `names` (a database as an older checkout left it)."""
    copy = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, copy)
    for name in names:
        (copy / name).unlink()
    return copy


def only_0001(tmp_path: Path) -> Path:
    directory = tmp_path / "only-0001"
    directory.mkdir()
    shutil.copy(MIGRATIONS_DIR / "0001_core.sql", directory)
    return directory


def insert_refusals(conn: psycopg.Connection) -> None:
    for i, (topic, seq, metric, reason, payload) in enumerate(REFUSALS):
        conn.execute(
            "INSERT INTO rejected_readings (received_at, topic, device_id, seq, metric, reason,"
            " detail, payload, payload_bytes) VALUES (%s, %s, 'bp-0007', %s, %s, %s, '', %s, %s)",
            (AT + timedelta(seconds=i), topic, seq, metric, reason, payload, len(payload)),
        )


def vigil_db_migrate(dsn: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VIGIL_DB__DSN": dsn, "VIGIL_DB__MODE": "plain"}
    return subprocess.run(
        [sys.executable, "-m", "vigil.cli", "db", "migrate"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def applied(conn: psycopg.Connection) -> list[tuple[str, str]]:
    rows = conn.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()
    return [(str(v), str(n)) for v, n in rows]


def all_names() -> list[str]:
    return sorted(p.name for p in MIGRATIONS_DIR.glob("[0-9]*.sql"))


def test_a_database_at_0001_holding_duplicate_refusals_upgrades(
    databases: Databases, tag: str, tmp_path: Path
) -> None:
    dsn = databases.create_empty(tag)
    assert migrate(dsn, "plain", only_0001(tmp_path)) == ["0001_core.sql"]
    with psycopg.connect(dsn, autocommit=True) as conn:
        insert_refusals(conn)
    with pytest.raises(psycopg.errors.UniqueViolation, match="rejected_readings_once"):
        migrate(dsn, "plain", migrations_without(tmp_path, REPAIR))  # what 0002 alone does

    done = vigil_db_migrate(dsn)

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("applied: " + ", ".join(all_names()[1:]))
    assert "removed 3 duplicate rejected readings" in done.stderr
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT id, received_at, payload_sha256 = sha256(payload) FROM rejected_readings"
            " ORDER BY id"
        ).fetchall()
        assert [r[0] for r in rows] == KEPT  # the first copy of each, with its receive time
        assert [r[1] for r in rows] == [AT + timedelta(seconds=i - 1) for i in KEPT]
        assert all(r[2] for r in rows)
        assert conn.execute("SELECT to_regclass('rejected_readings_once')").fetchone() != (None,)
        assert [n for _, n in applied(conn)] == all_names()


def test_a_database_past_0002_applies_the_repair_out_of_order_and_keeps_its_rows(
    databases: Databases, tag: str, tmp_path: Path
) -> None:
    dsn = databases.create_empty(tag)
    before = migrate(dsn, "plain", migrations_without(tmp_path, REPAIR))
    assert before == [n for n in all_names() if n != REPAIR]
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO rejected_readings (received_at, topic, reason, detail, payload,"
            " payload_bytes, payload_sha256) VALUES (now(), %s, 'malformed', '', 'x', 1,"
            " sha256('x'))",
            (TOPIC,),
        )
        # The bookkeeping as the runner before repairs wrote it: integer versions.
        conn.execute(
            "ALTER TABLE schema_migrations ALTER COLUMN version TYPE integer USING version::integer"
        )

    assert migrate(dsn) == [REPAIR]
    assert migrate(dsn) == []

    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT count(*) FROM rejected_readings").fetchone() == (1,)
        assert applied(conn) == sorted((n.split("_")[0], n) for n in all_names())
