"""Apply the ordered SQL migrations in infra/migrations and report the storage mode.

`migrate` takes an advisory lock (two processes starting at once do not race), records every
applied file with its SHA-256 in `schema_migrations` (an edited, already-applied migration is an
error, not a silent divergence) and runs each new file in its own transaction.

The storage mode is decided once, at the first migration, and stored in `vigil_meta`:
- `timescaledb` when the extension is installed in the database (the infra script creates it,
  as superuser, whenever PostgreSQL preloads it), or when asked for explicitly;
- `plain` otherwise, or when asked for: ordinary tables, same schema.
Migrations see the mode as the session setting `vigil.mode`.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import psycopg

from vigil.paths import MIGRATIONS_DIR

__all__ = ["MIGRATIONS_DIR", "MigrationError", "StorageMode", "migrate", "storage_mode"]

log = logging.getLogger(__name__)

_LOCK = 0x5649_4749_4C4D  # advisory lock id for migrations
Mode = Literal["auto", "timescaledb", "plain"]


class MigrationError(RuntimeError):
    """The schema cannot be brought up to date (fatal: fix the database or the files)."""


@dataclass(frozen=True, slots=True)
class StorageMode:
    name: Literal["timescaledb", "plain"]
    detail: str

    def __str__(self) -> str:
        return f"{self.name} ({self.detail})"


def migrate(conninfo: str, wanted: Mode = "auto", directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply pending migrations; return the names of those applied now."""
    files = sorted(directory.glob("[0-9][0-9][0-9][0-9]_*.sql"))
    applied_now: list[str] = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY,"
            " name text NOT NULL, sha256 text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        rows = conn.execute("SELECT name, sha256 FROM schema_migrations").fetchall()
        done: dict[str, str] = {str(name): str(digest) for name, digest in rows}
        mode = _decide_mode(conn, wanted) if files and files[0].name not in done else None
        for path in files:
            sql = path.read_text(encoding="utf-8")
            digest = hashlib.sha256(sql.encode()).hexdigest()
            if path.name in done:
                if done[path.name] != digest:
                    raise MigrationError(f"{path.name} was edited after it was applied")
                continue
            _apply(conn, path, sql, digest, mode or storage_mode(conn).name)
            applied_now.append(path.name)
    return applied_now


def _apply(conn: psycopg.Connection, path: Path, sql: str, digest: str, mode: str) -> None:
    with conn.transaction():
        conn.execute("SELECT set_config('vigil.mode', %s, true)", (mode,))
        conn.execute(sql.encode())
        conn.execute(
            "INSERT INTO schema_migrations (version, name, sha256) VALUES (%s, %s, %s)",
            (int(path.name[:4]), path.name, digest),
        )
    log.info("applied migration %s (%s)", path.name, mode)


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
