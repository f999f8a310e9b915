"""The pipeline's own alarm when the database refuses writes: raised while it lasts (on the
admins' /health/detail and in the log, since the database cannot take it), stored and cleared
once writes come back, and the reading that waited meanwhile is stored, not lost."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from api import registry
from api.auth import issue_subject_token
from tests.integration.conftest import eventually
from tests.integration.devices import bp_device, bp_payload, connect, enrol
from tests.integration.stack import running_stack
from vigil.settings import Settings

pytestmark = pytest.mark.asyncio


def health(api_url: str, token: str) -> dict[str, Any]:
    ask = urllib.request.Request(f"{api_url}/health/detail",
                                 headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    with urllib.request.urlopen(ask, timeout=5) as r:
        return dict(json.loads(r.read()))


async def admin_token(dsn: str, tag: str) -> str:
    async with AsyncConnectionPool(dsn, min_size=1, max_size=1, open=False) as pool:
        async with pool.connection() as conn:
            await registry.upsert_staff(conn, f"{tag}-admin", "Admin", "admin", [])
        return await issue_subject_token(pool, datetime.now(UTC), timedelta(hours=1),
                                         staff_id=f"{tag}-admin")  # fmt: skip


def set_read_only(settings: Settings, dsn: str, on: bool) -> None:
    name = psycopg.conninfo.conninfo_to_dict(dsn)["dbname"]
    with psycopg.connect(settings.db.admin_dsn.get_secret_value(), autocommit=True) as admin:
        action = (
            "SET default_transaction_read_only = on"
            if on
            else "RESET default_transaction_read_only"
        )
        admin.execute(f'ALTER DATABASE "{name}" {action}')
        # sessions read the setting when they start: make every session start again
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )


@pytest.mark.timeout(120)
async def test_a_database_refusing_writes_raises_and_clears_an_alarm(
    settings: Settings, dsn: str, tag: str, tmp_path: Path
) -> None:
    patients, _ = await enrol(settings, dsn, tag, patients=1)
    token = await admin_token(dsn, tag)
    cuff = bp_device(patients)
    async with running_stack(settings, dsn, tag, "embedded", tmp_path,
                             VIGIL_STREAM__ALARM_DB_REFUSING_S="2") as stack:  # fmt: skip
        device = await connect(settings, cuff)
        set_read_only(settings, dsn, True)
        reason = await device.publish_raw(
            f"vigil/v1/devices/{cuff}/readings", bp_payload(cuff, 1, 131.0)
        )
        assert not reason.is_failure  # the broker has it; the ingest holds its own PUBACK

        async def alarmed() -> bool:
            alarms = (await asyncio.to_thread(health, stack.api_url, token))["pipeline"]["alarms"]
            return "database_refusing_writes" in alarms

        assert await eventually(alarmed, timeout_s=30), stack.tail()
        assert device.acked_seq < 1  # nobody tells the device it may drop the reading

        set_read_only(settings, dsn, False)

        async def acked() -> bool:
            return device.acked_seq >= 1

        assert await eventually(acked, timeout_s=60), stack.tail()

        async def stored() -> list[tuple[Any, ...]]:
            async with await psycopg.AsyncConnection.connect(dsn) as conn:
                cur = await conn.execute(
                    "SELECT status, resolved_at > opened_at FROM technical_alerts"
                    " WHERE kind = 'database_refusing_writes' ORDER BY id"
                )
                return await cur.fetchall()

        async def cleared() -> bool:
            # the raise and its clear are stored one after the other once writes come back: a
            # row seen between the two is still 'open', so wait for the outcome, not for a row
            rows = await stored()
            return bool(rows) and all(status != "open" for status, _ in rows)

        assert await eventually(cleared, timeout_s=30), stack.tail()
        # raised once and cleared once, each stamped when it happened, not when it was stored
        assert await stored() == [("resolved", True)]
        assert (await asyncio.to_thread(health, stack.api_url, token))["status"] == "ok"
        async with await psycopg.AsyncConnection.connect(dsn) as conn:
            cur = await conn.execute("SELECT count(*) FROM readings WHERE device_id = %s", (cuff,))
            assert await cur.fetchone() == (3,)
        await device.close()  # (closed at the test's end anyway, should it fail before)
