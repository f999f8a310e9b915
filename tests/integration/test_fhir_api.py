"""FHIR R4 reads and searches on real PostgreSQL: resources validate with `fhir.resources`, codes
and units per metric, search by patient, code and date with pages, `$everything`, team scoping
(another team's patient is 404 with an OperationOutcome) and the audit of every read."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
import pytest

from reports import fhir
from tests.integration.fhir_support import KIT, fhir_json, seed_kit, valid
from tests.integration.rest_world import api_client, seed, utc_now

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]

R4 = "/fhir/R4"


async def world_with_kit(dsn: str, tag: str) -> tuple[Any, str, Any]:
    w = await seed(dsn, tag)
    pid = w.teams[0].patients[1]
    at = utc_now().replace(minute=0, second=0, microsecond=0)
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await seed_kit(conn, tag, pid, at)
    return w, pid, at


async def test_reads_validate_and_honour_team_scoping(dsn: str, tag: str) -> None:
    w, pid, _ = await world_with_kit(dsn, tag)
    own, other = w.bearer(0, "nurse"), w.bearer(1, "nurse")
    fid = fhir.fhir_id(pid)
    async with api_client(dsn) as c:
        patient = fhir_json(await c.get(f"{R4}/Patient/{fid}", headers=own))
        device = fhir_json(await c.get(f"{R4}/Device/{fhir.fhir_id(tag + '-cuff')}", headers=own))
        flag = fhir_json(await c.get(f"{R4}/Flag/{w.teams[0].alert_id}", headers=own))
        obs_id = fhir.observation_id("bp", f"{tag}-cuff", 1000)
        obs = fhir_json(await c.get(f"{R4}/Observation/{obs_id}", headers=own))
        refused = [
            await c.get(f"{R4}/Patient/{fid}", headers=other),
            await c.get(f"{R4}/Patient/{fid}/$everything", headers=other),
            await c.get(f"{R4}/Observation/{obs_id}", headers=other),
            await c.get(f"{R4}/Flag/{w.teams[0].alert_id}", headers=other),
            await c.get(f"{R4}/Device/{fhir.fhir_id(tag + '-cuff')}", headers=other),
            await c.get(f"{R4}/Observation?patient={fid}", headers=other),
            await c.get(f"{R4}/Patient/{fid}", headers=w.bearer(0, "patient")),  # another patient
            await c.get(f"{R4}/Observation/bp-1-nowhere", headers=own),
        ]
        anonymous = await c.get(f"{R4}/Patient/{fid}")
    assert patient["id"] == fid and patient["name"] == [{"text": w.teams[0].names[1]}]
    assert device["patient"] == {"reference": f"Patient/{fid}"}
    assert flag["status"] == "active" and flag["code"]["coding"][0]["code"] == "bp.crisis"
    assert [c["valueQuantity"]["value"] for c in obs["component"]] == [150.0, 95.0]
    for r in refused:
        body = fhir_json(r, 404)
        assert body["issue"][0]["code"] == "not-found"
        assert w.teams[0].names[1] not in r.text
    assert fhir_json(anonymous, 401)["issue"][0]["code"] == "login"
    with psycopg.connect(dsn) as conn:
        audited = conn.execute(
            "SELECT resource FROM audit_log WHERE patient_id = %s AND action = 'read'", (pid,)
        ).fetchall()
    assert {r[0] for r in audited} >= {"fhir.Patient", "fhir.Device", "fhir.Observation"}


@pytest.mark.parametrize(("code", "metrics"), [
    ("85354-9", {("85354-9", "8480-6", "8462-4")}),
    ("http://loinc.org|8480-6", {("85354-9", "8480-6", "8462-4")}),
    ("8867-4", {("8867-4",)}),
    ("99504-3", {("99504-3",)}),
    ("2339-0", {("2339-0",)}),
    ("2339-0,99504-3", {("2339-0",), ("99504-3",)}),
    ("59408-5", {("2708-6", "59408-5")}),
    ("29463-7", {("29463-7",)}),
    ("8310-5", {("8310-5",)}),
    ("9279-1", {("9279-1",)}),
    ("http://snomed.info/sct|8867-4", set()),
])  # fmt: skip
async def test_search_by_code_selects_its_metric(
    dsn: str, tag: str, code: str, metrics: set[tuple[str, ...]]
) -> None:
    w, pid, _ = await world_with_kit(dsn, tag)
    params = {"patient": f"Patient/{fhir.fhir_id(pid)}", "code": code, "_count": 1000}
    async with api_client(dsn) as c:
        r = await c.get(f"{R4}/Observation", params=params, headers=w.bearer(0, "nurse"))
    bundle = fhir_json(r)
    found = set()
    for e in bundle.get("entry", []):
        o = valid(e["resource"])
        found.add(
            tuple(c["code"] for c in o["code"]["coding"])
            + tuple(x["code"]["coding"][0]["code"] for x in o.get("component", []))
        )
    assert found == metrics
    hr_msgs = sum(1 for _, _, rs in KIT for m, _ in rs if m == "heart_rate")
    if code == "8867-4":
        assert len(bundle["entry"]) == 24 * hr_msgs


async def test_search_by_date_pages_through_next_links(dsn: str, tag: str) -> None:
    w, pid, at = await world_with_kit(dsn, tag)
    since, until = at - timedelta(hours=10), at - timedelta(hours=2)  # 8 hourly messages
    params = {"patient": fhir.fhir_id(pid), "code": "85354-9", "_count": 3,
              "date": [f"ge{since.isoformat()}", f"lt{until.isoformat()}"]}  # fmt: skip
    seen: list[str] = []
    async with api_client(dsn) as c:
        r = await c.get(f"{R4}/Observation", params=params, headers=w.bearer(0, "doctor"))
        while True:
            bundle = fhir_json(r)
            seen += [e["resource"]["effectiveDateTime"] for e in bundle.get("entry", [])]
            nxt = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
            if not nxt:
                break
            r = await c.get(nxt[0].replace("http://vigil.test", ""), headers=w.bearer(0, "doctor"))
        bad = await c.get(
            f"{R4}/Observation",
            params={**params, "date": "sa2026-01-01"},
            headers=w.bearer(0, "doctor"),
        )
        day = await c.get(
            f"{R4}/Observation",
            params={
                "patient": fhir.fhir_id(pid),
                "code": "8310-5",
                "date": at.date().isoformat(),
                "_count": 100,
            },
            headers=w.bearer(0, "doctor"),
        )
        none = await c.get(f"{R4}/Observation", headers=w.bearer(0, "doctor"))
    assert len(seen) == 8 and seen == sorted(seen, reverse=True)
    assert seen[0] < until.isoformat().replace("+00:00", "Z") and seen[
        -1
    ] >= since.isoformat().replace("+00:00", "Z")
    assert fhir_json(bad, 422)["issue"][0]["code"] == "invalid"
    assert all(
        e["resource"]["effectiveDateTime"].startswith(at.date().isoformat())
        for e in fhir_json(day)["entry"]
    )
    assert fhir_json(none, 422)["issue"][0]["code"] == "invalid"


async def test_everything_bundles_the_patient_and_flags_search(dsn: str, tag: str) -> None:
    w, _, _ = await world_with_kit(dsn, tag)
    pid = w.teams[0].patients[0]  # the one with the alert and the REST world's readings
    fid = fhir.fhir_id(pid)
    async with api_client(dsn) as c:
        everything = fhir_json(
            await c.get(f"{R4}/Patient/{fid}/$everything", headers=w.bearer(0, "admin"))
        )
        paged = fhir_json(
            await c.get(f"{R4}/Patient/{fid}/$everything?_count=2", headers=w.bearer(0, "admin"))
        )
        own = fhir_json(
            await c.get(f"{R4}/Patient/{fid}/$everything", headers=w.bearer(0, "patient"))
        )
        flags = fhir_json(await c.get(f"{R4}/Flag?patient={fid}", headers=w.bearer(0, "nurse")))
    kinds = [e["resource"]["resourceType"] for e in everything["entry"]]
    assert kinds == ["Patient", "Device", "Flag"] + ["Observation"] * 6
    assert everything["type"] == "searchset"
    assert [link["relation"] for link in paged["link"]] == ["self", "next"]
    assert len(own["entry"]) == len(everything["entry"])
    assert [e["resource"]["id"] for e in flags["entry"]] == [w.teams[0].alert_id]
