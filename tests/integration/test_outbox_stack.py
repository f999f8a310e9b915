"""The outbox sender as deployed: in `vigil run` (embedded bus) and in `vigil ingest` (Kafka
deployment), a message written to the outbox reaches the patient's device over the real broker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.integration.conftest import eventually
from tests.integration.devices import bp_device, enrol
from tests.integration.stack import running_stack
from tests.integration.test_outbox import inboxes, sent, write_message
from vigil.settings import Settings

pytestmark = pytest.mark.asyncio


@pytest.mark.timeout(150)
@pytest.mark.parametrize("bus", ["embedded", "kafka"])
async def test_the_running_system_delivers_patient_messages(
    settings: Settings,
    dsn: str,
    aconn: psycopg.AsyncConnection[Any],
    tag: str,
    bus: str,
    tmp_path: Path,
) -> None:
    patients, _ = await enrol(settings, dsn, tag, patients=1)
    cuff = bp_device(patients)
    async with (
        running_stack(settings, dsn, tag, bus, tmp_path),
        inboxes(settings, cuff) as [box],
    ):
        message_id = await write_message(aconn, patients[0].patient_id, "Measure again, please.")
        assert await eventually(lambda: sent(aconn, message_id), timeout_s=30)
        assert await box.has(1)
    assert box.received[0]["message_id"] == str(message_id)
