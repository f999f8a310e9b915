"""The private PostgreSQL started by infra/services.sh, as a hostile local user would try it.

Issue 14, finding 3: the cluster trusted every local socket connection, so any OS user (e.g.
`nobody`) could connect as the superuser and read every reading. Now: a password (SCRAM) for
every connection, a socket directory only the cluster owner can enter, an application role
without superuser rights, and a server log that never quotes a device id (finding 8).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from ingest.bound import BoundMessage
from ingest.contract import DeviceMessage, Measurement
from stream.sink import PgReadingStore
from vigil.settings import Settings

NO_PASSFILE = "/nonexistent/vigil-test-pgpass"  # libpq must not find a password on its own


def socket_dir(settings: Settings) -> Path:
    return settings.state_dir.resolve() / "pg" / "run"


def port(settings: Settings) -> int:
    return int(conninfo_to_dict(settings.db.dsn.get_secret_value())["port"] or 5432)


@pytest.mark.parametrize("user", ["postgres", "vigil"])
@pytest.mark.parametrize("via", ["socket", "tcp"])
def test_no_connection_without_the_password(settings: Settings, user: str, via: str) -> None:
    host = str(socket_dir(settings)) if via == "socket" else "127.0.0.1"
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(host=host, port=port(settings), user=user, dbname="postgres",
                        passfile=NO_PASSFILE, connect_timeout=5)  # fmt: skip


def test_a_wrong_password_is_refused_on_the_socket(settings: Settings) -> None:
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(host=str(socket_dir(settings)), port=port(settings), user="postgres",
                        password="not-the-password", dbname="postgres", passfile=NO_PASSFILE,
                        connect_timeout=5)  # fmt: skip


def test_the_socket_directory_is_the_cluster_owners_alone(settings: Settings) -> None:
    run = socket_dir(settings)
    for path in (run, run.parent):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path} is open to others: {oct(mode)}"
    assert run.stat().st_uid == (run / f".s.PGSQL.{port(settings)}").stat().st_uid


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another OS user")
def test_another_os_user_cannot_reach_the_database(settings: Settings) -> None:
    """The reproduction of the finding: `nobody` ran psql on the socket as the superuser."""
    psql = shutil.which("psql")
    assert psql is not None, "psql comes with the postgresql package infra/services.sh installs"
    done = subprocess.run(
        ["runuser", "-u", "nobody", "--", "env", f"PGPASSFILE={NO_PASSFILE}", psql, "-X",
         "-h", str(socket_dir(settings)), "-p", str(port(settings)), "-U", "postgres",
         "-d", "postgres", "-w", "-c", "SELECT count(*) FROM pg_database"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode != 0, done.stdout
    assert "Permission denied" in done.stderr or "password" in done.stderr, done.stderr


def test_the_application_role_has_no_administrative_rights(settings: Settings) -> None:
    with psycopg.connect(settings.db.dsn.get_secret_value()) as conn:
        row = conn.execute(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls"
            " FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        assert row == (False, False, False, False, False)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT pg_read_file('PG_VERSION')")


@pytest.mark.asyncio
async def test_a_duplicate_reading_leaves_no_device_id_in_the_server_log(
    settings: Settings, dsn: str, tag: str
) -> None:
    """The sink provokes a duplicate-key error on purpose for every redelivered batch; the
    error's DETAIL (device id, measurement time) and statement must not reach the server log."""
    log_file = settings.state_dir.resolve() / "pg" / "postgres.log"
    start = log_file.stat().st_size
    device = f"cuff-{tag}-phi"
    now = datetime.now(UTC).replace(microsecond=0)
    reading = DeviceMessage(device, 7, now - timedelta(minutes=1), now,
                            (Measurement("systolic_bp", 150.0, "mm[Hg]", 150.0, "mm[Hg]"),),
                            None)  # fmt: skip
    store = PgReadingStore(dsn)
    try:
        assert await store.write([BoundMessage("p1", reading)]) == 1
        assert await store.write([BoundMessage("p1", reading)]) == 0  # the refused direct COPY
        assert store.deduplicated_batches == 1
        # An error of the application's own making, with a device id in its statement too.
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            with pytest.raises(psycopg.errors.UniqueViolation):
                await conn.execute(
                    "INSERT INTO readings (time, device_id, seq, metric, patient_id, value, unit,"
                    " orig_value, orig_unit, received_at) SELECT time, device_id, seq, metric,"
                    " patient_id, value, unit, orig_value, orig_unit, received_at FROM readings"
                    " WHERE device_id = %s",
                    (device,),
                )
    finally:
        await store.close()
    # Without a logging collector a backend writes its log line to the file before it answers
    # the client: whatever the errors above logged is there now.
    with log_file.open("rb") as f:
        f.seek(start)
        written = f.read().decode(errors="replace")
    assert tag not in written, written[-2000:]
