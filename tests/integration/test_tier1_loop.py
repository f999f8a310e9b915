"""Tier 1 end to end on the running system (embedded bus, real Mosquitto and PostgreSQL): two
glucose readings above 250 mg/dL open a moderate alert at tier 1; the patient's meter receives
a re-measure prompt over MQTT; a re-measure back in range resolves the alert (with advice), one
that confirms it hands the alert to the team's on-call nurse."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from psycopg.rows import dict_row

from ingest.contract import readings_topic
from simulators import payloads
from simulators.device import DeviceConnection
from simulators.fleet import SimPatient
from simulators.inbox import PatientMessage
from tests.integration.conftest import eventually
from tests.integration.devices import connect, enrol
from tests.integration.stack import running_stack
from vigil.settings import Settings

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(150)]

# A meter's stream is evaluated once quiet for the idle flush (30 s by default).
FAST_TIMERS = {"VIGIL_STREAM__IDLE_FLUSH_S": "2", "VIGIL_STREAM__TICK_S": "0.5"}


def meter_of(patients: Sequence[SimPatient]) -> tuple[SimPatient, str]:
    for p in patients:
        for d in p.devices:
            if d.profile.kind == "glucometer":
                return p, d.device_id
    raise AssertionError("the cohort has no glucometer")


async def measure(meter: DeviceConnection, seq: int, mg_dl: float, at: datetime) -> None:
    reading = payloads.reading("glucose", mg_dl, "mg/dL")
    doc = payloads.message(meter.device_id, seq, at, [reading])
    await meter.publish_raw(readings_topic(meter.device_id), orjson.dumps(doc))


async def the_alert(aconn: psycopg.AsyncConnection[Any], patient_id: str) -> dict[str, Any]:
    cur = aconn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT id, tier, status, outcome FROM alerts"
        " WHERE patient_id = %s AND rule_id = 'glucose.high'",
        (patient_id,),
    )
    return await cur.fetchone() or {}


@pytest.mark.parametrize(
    ("remeasures", "status", "tier", "outcome", "templates"),
    [
        ((180.0, 170.0), "resolved", 1, "auto_resolved", ["remeasure", "advice"]),
        ((320.0,), "open", 2, None, ["remeasure"]),
    ],
)
async def test_the_patient_is_prompted_and_the_remeasure_decides(
    settings: Settings,
    dsn: str,
    aconn: psycopg.AsyncConnection[Any],
    tag: str,
    tmp_path: Path,
    remeasures: tuple[float, ...],
    status: str,
    tier: int,
    outcome: str | None,
    templates: list[str],
) -> None:
    patients, _ = await enrol(settings, dsn, tag, patients=3)
    patient, meter_id = meter_of(patients)
    t0 = datetime.now(UTC) - timedelta(minutes=20)
    received: list[PatientMessage] = []

    async def has(n: int) -> bool:
        return len(received) >= n

    async with running_stack(settings, dsn, tag, "embedded", tmp_path, **FAST_TIMERS):
        meter = await connect(settings, meter_id)
        meter.on_message = received.append
        try:
            await measure(meter, 1, 300.0, t0)
            await measure(meter, 2, 310.0, t0 + timedelta(minutes=2))
            assert await eventually(lambda: has(1), timeout_s=30), "no prompt reached the meter"
            assert (received[0].template, received[0].metric) == ("remeasure", "glucose")
            assert (await the_alert(aconn, patient.patient_id))["tier"] == 1
            for i, value in enumerate(remeasures):
                await measure(meter, 3 + i, value, t0 + timedelta(minutes=8 + i))

            async def settled() -> bool:
                alert = await the_alert(aconn, patient.patient_id)
                return (alert["status"], alert["tier"]) == (status, tier)

            assert await eventually(settled, timeout_s=30)
            assert await eventually(lambda: has(len(templates)), timeout_s=20)
        finally:
            meter.disconnect()
    alert = await the_alert(aconn, patient.patient_id)
    assert alert["outcome"] == outcome
    assert [m.template for m in received] == templates
    if tier == 2:
        cur = await aconn.execute("SELECT tier, staff_id FROM pages WHERE alert_id = %s",
                                  (alert["id"],))  # fmt: skip
        assert await cur.fetchall() == [(2, f"nurse-{patient.team_id}")]


async def test_the_services_reach_the_broker_over_tls(
    settings: Settings, dsn: str, aconn: psycopg.AsyncConnection[Any], tag: str, tmp_path: Path
) -> None:
    """With mqtt.service_tls the ingest (its subscription and the retained acks it reads at
    start) and the outbox's publisher use the broker's TLS listener: a reading still opens its
    alert and the prompt still reaches the meter."""
    patients, _ = await enrol(settings, dsn, tag, patients=3)
    patient, meter_id = meter_of(patients)
    t0 = datetime.now(UTC) - timedelta(minutes=20)
    received: list[PatientMessage] = []

    async def prompted() -> bool:
        return len(received) >= 1

    tls = {**FAST_TIMERS, "VIGIL_MQTT__SERVICE_TLS": "true"}
    async with running_stack(settings, dsn, tag, "embedded", tmp_path, **tls) as stack:
        meter = await connect(settings, meter_id)
        meter.on_message = received.append
        try:
            await measure(meter, 1, 300.0, t0)
            await measure(meter, 2, 310.0, t0 + timedelta(minutes=2))
            assert await eventually(prompted, timeout_s=30), "no prompt reached the meter"
        finally:
            meter.disconnect()
    assert (await the_alert(aconn, patient.patient_id))["tier"] == 1
    assert received[0].template == "remeasure"
    assert "mqtt connected over TLS" in stack.log.read_text()
