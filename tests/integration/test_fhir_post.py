"""Observations posted as FHIR (a phone relaying a meter) go through the production ingest: the
same contract checks, binding, rejection store and de-duplication as MQTT readings (real
PostgreSQL, the embedded pipeline of tests/integration/ingest_world)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from api.auth import issue_subject_token
from reports import fhir
from tests.integration.devices import enrol
from tests.integration.fhir_support import fhir_json
from tests.integration.ingest_world import ingest_world
from tests.integration.rest_world import api_client
from tests.integration.stack import running_stack
from vigil.settings import Settings

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]

URL = "/fhir/R4/Observation"


def pulse(seq: int, value: float, at: datetime) -> dict[str, Any]:
    doc = fhir.observation(fhir.ReadingRow("p", "x", seq, at, "heart_rate", value, None, "bp_cuff"))
    del doc["id"], doc["subject"], doc["device"]
    doc["identifier"] = [{"system": fhir.SEQ_SYSTEM, "value": str(seq)}]
    return doc


def bp(seq: int, sbp: float, dbp: float, at: datetime, device: str | None = None) -> dict[str, Any]:
    row = fhir.ReadingRow("p", device or "x", seq, at, "systolic_bp", sbp, dbp, "bp_cuff")
    doc = fhir.observation(row)
    del doc["id"], doc["subject"]  # a relay knows neither: the binding decides the patient
    doc["identifier"] = [{"system": fhir.SEQ_SYSTEM, "value": str(seq)}]
    if device is None:
        del doc["device"]
    return doc


async def token(dsn: str, **subject: str) -> dict[str, str]:
    async with AsyncConnectionPool(dsn, min_size=1, max_size=1, open=False) as pool:
        value = await issue_subject_token(pool, datetime.now(UTC), timedelta(hours=1), **subject)
    return {"Authorization": f"Bearer {value}"}


async def test_a_posted_observation_is_stored_once_and_bad_ones_refused_with_reasons(
    settings: Settings, dsn: str, tag: str
) -> None:
    device, other = f"{tag}-cuff", f"{tag}-other"
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    async with ingest_world(settings, dsn, tag, [device, other]) as world:
        auth = await token(dsn, device_id=device)
        async with api_client(dsn, relay=world.service) as c:
            first = await c.post(URL, json=bp(7, 150, 95, at, device), headers=auth)
            again = await c.post(URL, json=bp(7, 150, 95, at), headers=auth)
            implausible = await c.post(URL, json=pulse(12, 400, at), headers=auth)
            partly = await c.post(URL, json=bp(8, 400, 95, at), headers=auth)
            mismatch = await c.post(URL, json=bp(9, 140, 90, at, other), headers=auth)
            garbage = await c.post(URL, content=b"{not json", headers=auth)
            staff = await c.post(
                URL, json=bp(10, 140, 90, at), headers=await token(dsn, patient_id=world.patient)
            )
        async with api_client(dsn) as c:
            no_ingest = await c.post(URL, json=bp(11, 140, 90, at), headers=auth)
        stored = await world.rows(
            "SELECT metric, value, patient_id, context->>'source' FROM readings"
            " WHERE device_id = %s ORDER BY metric", device,
        )  # fmt: skip
        refused = await world.rows(
            "SELECT seq, reason, metric FROM rejected_readings WHERE device_id = %s ORDER BY id",
            device,
        )
        counted = dict(world.service.stats.rejected)
    for r in (first, again):
        assert fhir_json(r, 201)["issue"][0]["severity"] == "information"
        assert r.headers["location"].endswith(f"/Observation/bp-7-{device}")
    # seq 7 once (the second post is a redelivery); of seq 8 only the plausible diastolic
    assert stored == [
        ("diastolic_bp", 95.0, world.patient, "fhir"),
        ("diastolic_bp", 95.0, world.patient, "fhir"),
        ("systolic_bp", 150.0, world.patient, "fhir"),
    ]
    diagnostics = [i["diagnostics"] for i in fhir_json(implausible, 422)["issue"]]
    assert diagnostics == ["implausible: 400 /min outside [20, 300]"]
    warned = fhir_json(partly, 201)["issue"]
    assert [(i["severity"], i["diagnostics"][:11]) for i in warned] == [("warning", "implausible")]
    assert "device_mismatch" in fhir_json(mismatch, 422)["issue"][0]["diagnostics"]
    assert fhir_json(garbage, 422)["issue"][0]["diagnostics"].startswith("schema")
    assert fhir_json(staff, 403)["issue"][0]["code"] == "forbidden"
    assert fhir_json(no_ingest, 503)["issue"][0]["code"] == "transient"
    assert (8, "implausible", "systolic_bp") in refused
    assert (12, "implausible", "heart_rate") in refused
    assert {r[1] for r in refused} >= {"implausible", "device_mismatch", "schema"}
    assert counted["implausible"] == 2 and counted["device_mismatch"] == 1


async def test_the_embedded_runner_takes_posted_observations(
    settings: Settings, dsn: str, tag: str, tmp_path: Path
) -> None:
    """`vigil run` wires its own ingest into the API: a post is stored by the real process."""
    patients, _ = await enrol(settings, dsn, tag, patients=1)
    device = patients[0].devices[0].device_id
    auth = await token(dsn, device_id=device)
    doc = pulse(10**9, 71, datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1))
    async with (
        running_stack(settings, dsn, tag, "embedded", tmp_path) as stack,
        httpx.AsyncClient(base_url=stack.api_url, timeout=10) as c,
    ):
        answer = await c.post(URL, json=doc, headers=auth)
    assert answer.status_code == 201, answer.text
    assert answer.headers["location"].endswith(f"/Observation/hr-{10**9}-{fhir.fhir_id(device)}")
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        cur = await conn.execute(
            "SELECT metric, value, patient_id FROM readings WHERE device_id = %s AND seq = %s",
            (device, 10**9),
        )
        assert await cur.fetchall() == [("heart_rate", 71.0, patients[0].patient_id)]
