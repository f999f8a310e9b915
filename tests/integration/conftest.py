"""Fixtures for integration tests: real Mosquitto, Kafka and PostgreSQL from infra/services.sh.

Each test gets its own database (migrated for real), its own Kafka topic and consumer group, its
own MQTT client ids and device ids (a random tag), so tests never see each other's data.
"""

from __future__ import annotations

import asyncio
import secrets
import subprocess
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest
import pytest_asyncio
from psycopg.conninfo import make_conninfo

from tests.conftest import REPO
from tests.integration.devices import close_all
from vigil.migrate import migrate
from vigil.settings import Settings, load_settings


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in item.nodeid:
            item.add_marker(pytest.mark.integration)
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("bus") == "kafka":
            item.add_marker(pytest.mark.kafka)


@pytest.fixture(scope="session")
def settings(request: pytest.FixtureRequest) -> Settings:
    """Start (or find running) the private services; their endpoints come from services.env.
    Kafka (a JVM, slow to start) only when a selected test is marked `kafka`."""
    services = ["mosquitto", "postgres"]
    if any(item.get_closest_marker("kafka") for item in request.session.items):
        services.append("kafka")
    subprocess.run([str(REPO / "infra" / "services.sh"), "up", *services], check=True)
    return load_settings()


@pytest_asyncio.fixture(autouse=True)
async def mqtt_clients_closed() -> AsyncIterator[None]:
    """Whatever MQTT connections the test opened are closed when it ends, even if it failed."""
    yield
    await close_all()


@pytest.fixture
def tag() -> str:
    return "t" + secrets.token_hex(3)


def timescaledb_available(settings: Settings) -> bool:
    with psycopg.connect(settings.db.admin_dsn.get_secret_value(), autocommit=True) as conn:
        preload = conn.execute("SHOW shared_preload_libraries").fetchone()
        avail = conn.execute(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
        ).fetchone()
    return avail is not None and preload is not None and "timescaledb" in str(preload[0])


class Databases:
    """Creates throw-away databases owned by the application role, and drops them afterwards."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._created: list[str] = []

    def create(self, tag: str, mode: str = "plain") -> str:
        dsn = self.create_empty(tag, mode)
        migrate(dsn, "timescaledb" if mode == "timescaledb" else "plain")
        return dsn

    def create_in_mode(self, tag: str, mode: str) -> str:
        """`create` for a test parametrised over both storage modes: the TimescaleDB half is
        skipped, saying so, when this PostgreSQL has no TimescaleDB."""
        if mode == "timescaledb" and not timescaledb_available(self._settings):
            pytest.skip("timescaledb extension not installed")
        return self.create(tag, mode)

    def create_empty(self, tag: str, mode: str = "plain") -> str:
        """A database with nothing migrated yet (tests of the migrations themselves)."""
        admin = self._settings.db.admin_dsn.get_secret_value()
        name = f"vigil_{tag}_{mode}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" OWNER vigil')
        self._created.append(name)
        if mode == "timescaledb":
            with psycopg.connect(make_conninfo(admin, dbname=name), autocommit=True) as conn:
                conn.execute("CREATE EXTENSION timescaledb")
        return make_conninfo(self._settings.db.dsn.get_secret_value(), dbname=name)

    def drop_all(self) -> None:
        admin = self._settings.db.admin_dsn.get_secret_value()
        with psycopg.connect(admin, autocommit=True) as conn:
            for name in self._created:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def databases(settings: Settings) -> Iterator[Databases]:
    dbs = Databases(settings)
    yield dbs
    dbs.drop_all()


@pytest.fixture
def dsn(databases: Databases, tag: str) -> str:
    """A migrated database in plain PostgreSQL mode (the mode CI always has)."""
    return databases.create(tag)


@pytest_asyncio.fixture
async def aconn(dsn: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        yield conn


async def eventually(check: Any, timeout_s: float = 20.0, interval_s: float = 0.2) -> Any:
    """Poll an async predicate until it returns something truthy (no fixed sleeps)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        result = await check()
        if result or asyncio.get_running_loop().time() > deadline:
            return result
        await asyncio.sleep(interval_s)
