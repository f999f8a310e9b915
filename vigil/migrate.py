"""Apply the ordered SQL migrations in infra/migrations and report the storage mode.

`migrate` takes an advisory lock (two processes starting at once do not race), records every
applied file with its SHA-256 in `schema_migrations` (an edited, already-applied migration is an
error, not a silent divergence) and runs each new file in its own transaction. What a migration
RAISEs (NOTICE, WARNING: e.g. what a repair changed) is logged at that level.

Order and the rules for applying out of order (infra/migrations/README.md):
- `NNNN_name.sql` is a migration; files apply in the order of their version (`NNNN`, then an
  optional letter), each once.
- `NNNNx_name.sql` (a lowercase letter after the number) is a repair, written after later
  migrations existed, that must run before `NNNN+1` on a database that has not reached it yet
  (e.g. 0001a removes data 0002 would fail on). A database that is already past it applies it
  too, out of order, so every repair must be harmless on any later schema.
- A pending plain migration that sorts before one already applied is an error (two branches
  took the same number, or a file was renamed): renumber it; it is never applied silently.

The storage mode is decided once, at the first migration, and stored in `vigil_meta`:
- `timescaledb` when the extension is installed in the database (the infra script creates it,
  as superuser, whenever PostgreSQL preloads it), or when asked for explicitly;
- `plain` otherwise, or when asked for: ordinary tables, same schema.
Migrations see the mode as the session setting `vigil.mode`.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import psycopg
from psycopg.errors import Diagnostic

from vigil.paths import MIGRATIONS_DIR

__all__ = ["MIGRATIONS_DIR", "MigrationError", "StorageMode", "migrate", "storage_mode"]

log = logging.getLogger(__name__)

_LOCK = 0x5649_4749_4C4D  # advisory lock id for migrations
_NAME = re.compile(r"(?P<version>[0-9]{4}[a-z]?)_[A-Za-z0-9_]+\.sql")
Mode = Literal["auto", "timescaledb", "plain"]

_BOOKKEEPING = (
    "CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, name text NOT NULL,"
    " sha256 text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
)
# Databases migrated before repairs existed number their rows with an integer: widen it, once.
_VERSION_TYPE = (
    "SELECT data_type FROM information_schema.columns WHERE table_schema = current_schema()"
    " AND table_name = 'schema_migrations' AND column_name = 'version'"
)
_WIDEN = (
    "ALTER TABLE schema_migrations ALTER COLUMN version TYPE text USING lpad(version::text, 4, '0')"
)


class MigrationError(RuntimeError):
    """The schema cannot be brought up to date (fatal: fix the database or the files)."""


@dataclass(frozen=True, slots=True)
class StorageMode:
    name: Literal["timescaledb", "plain"]
    detail: str

    def __str__(self) -> str:
        return f"{self.name} ({self.detail})"


@dataclass(frozen=True, slots=True)
class Migration:
    name: str
    version: str  # "0002"; "0001a" for a repair that runs before 0002
    sql: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    @property
    def repair(self) -> bool:
        return not self.version.isdigit()


def read_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migration files of `directory`, in the order they apply."""
    found = []
    for path in directory.glob("[0-9][0-9][0-9][0-9]*.sql"):
        match = _NAME.fullmatch(path.name)
        if match is None:
            raise MigrationError(
                f"{path.name}: a migration is named NNNN_name.sql or NNNNx_name.sql"
            )
        found.append(Migration(path.name, match["version"], path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migrations share a version: {sorted(versions)}")
    return sorted(found, key=lambda m: m.version)


def pending(migrations: list[Migration], done: dict[str, str]) -> list[Migration]:
    """What to apply now, in order, given `done` (name -> SHA-256 of what was applied)."""
    newest = _newest_applied(migrations, done)
    todo = []
    for m in migrations:
        if m.name in done:
            if done[m.name] != m.sha256:
                raise MigrationError(f"{m.name} was edited after it was applied")
        elif m.version < newest and not m.repair:
            raise MigrationError(
                f"{m.name} is pending but sorts before {newest}, which is already applied; "
                f"renumber it after {newest} (only a repair, NNNNx_name.sql, runs out of order)"
            )
        else:
            todo.append(m)
    return todo


def migrate(conninfo: str, wanted: Mode = "auto", directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply pending migrations; return the names of those applied now."""
    migrations = read_migrations(directory)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK,))
        conn.execute(_BOOKKEEPING)
        if conn.execute(_VERSION_TYPE).fetchone() == ("integer",):
            conn.execute(_WIDEN)
        rows = conn.execute("SELECT name, sha256 FROM schema_migrations").fetchall()
        done: dict[str, str] = {str(name): str(digest) for name, digest in rows}
        todo = pending(migrations, done)
        first = bool(migrations) and migrations[0].name not in done
        mode = _decide_mode(conn, wanted) if first else None
        newest = _newest_applied(migrations, done)
        for m in todo:
            if m.version < newest:
                log.info("repair %s applies out of order (the database is at %s)", m.name, newest)
            _apply(conn, m, mode or storage_mode(conn).name)
    return [m.name for m in todo]


def _newest_applied(migrations: list[Migration], done: dict[str, str]) -> str:
    return max((m.version for m in migrations if m.name in done), default="")


def _apply(conn: psycopg.Connection, migration: Migration, mode: str) -> None:
    def notice(diag: Diagnostic) -> None:
        level = logging.WARNING if diag.severity_nonlocalized == "WARNING" else logging.INFO
        log.log(level, "migration %s: %s", migration.name, diag.message_primary)

    conn.add_notice_handler(notice)
    try:
        with conn.transaction():
            conn.execute("SELECT set_config('vigil.mode', %s, true)", (mode,))
            conn.execute(migration.sql.encode())
            conn.execute(
                "INSERT INTO schema_migrations (version, name, sha256) VALUES (%s, %s, %s)",
                (migration.version, migration.name, migration.sha256),
            )
    finally:
        conn.remove_notice_handler(notice)
    log.info("applied migration %s (%s)", migration.name, mode)


def _decide_mode(conn: psycopg.Connection, wanted: Mode) -> str:
    installed = _timescaledb_version(conn)
    if wanted == "plain" or (wanted == "auto" and installed is None):
        return "plain"
    if installed is None:
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        except psycopg.Error as exc:
            raise MigrationError(
                "timescaledb requested but not installed in this database; as a superuser run "
                "CREATE EXTENSION timescaledb (PostgreSQL must preload it)"
            ) from exc
    return "timescaledb"


def _timescaledb_version(conn: psycopg.Connection) -> str | None:
    row = conn.execute(
        "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"
    ).fetchone()
    return None if row is None else str(row[0])


def storage_mode(conn: psycopg.Connection) -> StorageMode:
    """The mode this database was migrated in, with versions, for the start-up report."""
    server = conn.execute("SHOW server_version").fetchone()
    pg = f"PostgreSQL {server[0] if server else '?'}"
    row = conn.execute("SELECT value FROM vigil_meta WHERE key = 'storage_mode'").fetchone()
    if row is None:
        raise MigrationError("database is not migrated; run: vigil db migrate")
    if row[0] == "timescaledb":
        return StorageMode("timescaledb", f"TimescaleDB {_timescaledb_version(conn)} on {pg}")
    return StorageMode("plain", f"{pg}; timescaledb extension not in use")
