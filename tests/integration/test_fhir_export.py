"""FHIR bulk export of a team on real PostgreSQL: kick-off (202, Content-Location), polling (202
then 200 and a manifest), NDJSON files whose every line validates with `fhir.resources` and whose
counts match the database; admins of the team only (another team's job and files are 404); the
files expire with their job."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

from reports.fhir_bulk import ExportPlace
from tests.integration.conftest import eventually
from tests.integration.fhir_support import fhir_json, seed_kit, valid
from tests.integration.rest_world import api_client, seed, utc_now

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(90)]

R4 = "/fhir/R4"
ASYNC = {"Prefer": "respond-async"}


def db_counts(dsn: str, team: str) -> dict[str, int]:
    with psycopg.connect(dsn) as conn:
        one = lambda sql: conn.execute(sql, (team,)).fetchone()[0]  # noqa: E731
        return {
            "Patient": one("SELECT count(*) FROM patients WHERE team_id = %s"),
            "Device": one("SELECT count(DISTINCT b.device_id) FROM device_bindings b JOIN patients p ON p.id = b.patient_id WHERE p.team_id = %s"),
            # a blood-pressure message is one Observation (the panel): count its systolic only
            "Observation": one("SELECT count(*) FROM readings r JOIN patients p ON p.id = r.patient_id WHERE p.team_id = %s AND r.metric <> 'diastolic_bp'"),
            "Flag": one("SELECT count(*) FROM alerts a JOIN patients p ON p.id = a.patient_id WHERE p.team_id = %s"),
        }  # fmt: skip


async def test_a_team_export_matches_the_database(dsn: str, tag: str, tmp_path: Path) -> None:
    w = await seed(dsn, tag)
    team = w.teams[0].id
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        stored = await seed_kit(conn, tag, w.teams[0].patients[1], utc_now(), days=3)
    assert stored > 500
    place = ExportPlace(tmp_path / "exports", timedelta(hours=1))
    admin, other = w.bearer(0, "admin"), w.bearer(1, "admin")
    async with api_client(dsn, fhir_exports=place) as c:
        kick = await c.get(f"{R4}/Group/{team}/$export", headers={**admin, **ASYNC})
        assert kick.status_code == 202, kick.text
        status_url = kick.headers["content-location"].replace("http://vigil.test", "")

        async def done() -> Any:
            r = await c.get(status_url, headers=admin)
            return r if r.status_code != 202 else None

        answer = await eventually(done)
        assert answer is not None and answer.status_code == 200, answer and answer.text
        manifest = answer.json()
        files: dict[str, list[dict[str, Any]]] = {}
        for out in manifest["output"]:
            r = await c.get(out["url"].replace("http://vigil.test", ""), headers=admin)
            assert r.status_code == 200 and r.headers["content-type"].startswith(
                "application/fhir+ndjson"
            )
            files[out["type"]] = [valid(orjson.loads(line)) for line in r.content.splitlines()]
            assert len(files[out["type"]]) == out["count"]
            assert (
                await c.get(out["url"].replace("http://vigil.test", ""), headers=other)
            ).status_code == 404
        refused = [
            await c.get(status_url, headers=other),
            await c.get(f"{R4}/Group/{w.teams[1].id}/$export", headers={**admin, **ASYNC}),
        ]
        forbidden = await c.get(
            f"{R4}/Group/{team}/$export", headers={**w.bearer(0, "nurse"), **ASYNC}
        )
        no_prefer = await c.get(f"{R4}/Group/{team}/$export", headers=admin)
        partial = await c.get(
            f"{R4}/Group/{team}/$export?_type=Patient", headers={**admin, **ASYNC}
        )
    assert manifest["requiresAccessToken"] is True
    assert {o["type"]: o["count"] for o in manifest["output"]} == db_counts(dsn, team)
    assert {
        o["type"]: len(v) for o, v in zip(manifest["output"], files.values(), strict=True)
    } == db_counts(dsn, team)
    observations = files["Observation"]
    assert len({o["id"] for o in observations}) == len(observations)  # ids are unique
    assert {o["subject"]["reference"] for o in observations} <= {
        f"Patient/{p}" for p in w.teams[0].patients
    }
    for r in refused:
        assert fhir_json(r, 404)["issue"][0]["code"] == "not-found"
    assert fhir_json(forbidden, 403)["issue"][0]["code"] == "forbidden"
    assert fhir_json(no_prefer, 422)["issue"][0]["code"] == "invalid"
    assert fhir_json(partial, 422)["issue"][0]["code"] == "invalid"  # not silently all types


async def test_expired_exports_are_purged_with_their_files(
    dsn: str, tag: str, tmp_path: Path
) -> None:
    w = await seed(dsn, tag)
    team = w.teams[0].id
    clock = {"now": utc_now()}
    place = ExportPlace(tmp_path / "exports", timedelta(minutes=10))
    admin = w.bearer(0, "admin")
    async with api_client(dsn, fhir_exports=place, clock=lambda: clock["now"]) as c:
        kick = await c.get(f"{R4}/Group/{team}/$export", headers={**admin, **ASYNC})
        status_url = kick.headers["content-location"].replace("http://vigil.test", "")

        async def done() -> Any:
            return (await c.get(status_url, headers=admin)).status_code == 200

        assert await eventually(done)
        assert len(list((tmp_path / "exports").glob("*/*.ndjson"))) == 4
        clock["now"] += timedelta(minutes=11)
        gone = await c.get(status_url, headers=admin)
    assert fhir_json(gone, 404)["issue"][0]["code"] == "not-found"
    assert list((tmp_path / "exports").glob("*/*.ndjson")) == []
