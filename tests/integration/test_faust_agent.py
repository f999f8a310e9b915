"""The Faust agent in isolation (`agent.test_context()`, no broker): a batch goes through the
real pipeline into PostgreSQL, detections included, and the operator state reaches the table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pydantic import SecretStr

from ingest import bound
from ingest.bound import BoundMessage
from ingest.contract import DeviceMessage, Measurement
from ingest.kafka import ensure_topic
from stream.faust_app import STATE_TABLE
from tests.integration.conftest import eventually
from tests.integration.devices import enrol
from vigil.settings import Settings
from vigil.worker import make_app

pytestmark = [pytest.mark.asyncio, pytest.mark.kafka]


@pytest.mark.timeout(60)
async def test_the_agent_writes_readings_detections_and_state(
    settings: Settings, dsn: str, aconn: psycopg.AsyncConnection[Any], tag: str, tmp_path: Path
) -> None:
    patients, _ = await enrol(settings, dsn, tag, patients=1)
    patient = patients[0].patient_id
    cgm = next(d.device_id for d in patients[0].devices if d.profile.kind == "cgm")
    s = settings.model_copy(update={
        "db": settings.db.model_copy(update={"dsn": SecretStr(dsn)}),
        "kafka": settings.kafka.model_copy(update={"app_id": f"agent-{tag}", "readings_topic": f"r.{tag}"}),
        "state_dir": tmp_path,
    })  # fmt: skip
    app = make_app(s)
    agent = next(iter(app.agents.values()))
    now = datetime.now(UTC)
    values = [110.0, 90.0, 52.0]  # the last one is level-2 hypoglycaemia: fires on arrival
    # The table's changelog goes to the real broker. Its topic is created here behind the
    # producer's back, so the producer's metadata does not know it: the worst case of a worker
    # whose metadata refresh after Faust created the topic came too early (faust_app.py,
    # `changelog_known`). The agent must wait for the topic, not crash on its first write.
    table = app.tables[STATE_TABLE]
    await app.producer.start()
    await ensure_topic(
        s.kafka.bootstrap, table.changelog_topic.get_topic_name(), s.kafka.partitions
    )
    async with agent.test_context() as test_agent:
        for seq, value in enumerate(values):
            t = now - timedelta(minutes=10 - 5 * seq)
            m = DeviceMessage(
                cgm, seq, t, t, (Measurement("glucose", value, "mg/dL", value, "mg/dL"),)
            )
            await test_agent.put(
                bound.encode(BoundMessage(patient, m, "cgm", 300.0)), key=patient.encode()
            )

        async def stored() -> bool:
            cur = await aconn.execute("SELECT count(*) FROM readings")
            detections = await aconn.execute("SELECT rule_id FROM detections")
            row = await cur.fetchone()
            return row == (3,) and ("glucose.level2_low",) in await detections.fetchall()

        async def state_kept() -> bool:  # the state goes to the changelogged table after the commit
            return table.get(patient.encode()) is not None  # (faust_app: persist after process)

        assert await eventually(stored, timeout_s=30)
        assert await eventually(state_kept, timeout_s=30)
    await app.producer.stop()
