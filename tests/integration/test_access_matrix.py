"""The REST API's access matrix: for a caller of every role in each of three care teams (and
without a token, and with an expired one), every endpoint answers the expected status, and no
answer carries another team's patients (their display names and ids never appear)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from tests.integration.rest_world import ROLES, TEAMS, World, api_client, seed

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(90)]

OK, CREATED, FORBIDDEN, MISSING = 200, 201, 403, 404


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    expect: dict[str, int]  # role -> status; "none" and "expired" always get 401
    body: dict[str, Any] | None = None


def staff(status: int, patient: int = FORBIDDEN, device: int = FORBIDDEN) -> dict[str, int]:
    return {"nurse": status, "doctor": status, "admin": status, "patient": patient,
            "device": device}  # fmt: skip


def admin(status: int) -> dict[str, int]:
    return {"nurse": FORBIDDEN, "doctor": FORBIDDEN, "admin": status, "patient": FORBIDDEN,
            "device": FORBIDDEN}  # fmt: skip


def cases(w: World, own: int, other: int) -> list[Case]:
    o, x = w.teams[own], w.teams[other]
    po, po2, px = o.patients[0], o.patients[1], x.patients[0]
    shift = {"staff_id": w.staff(own, "nurse"), "role": "nurse", "tz": "Europe/Paris",
             "weekdays": [0, 1], "start_time": "08:00", "end_time": "16:00"}  # fmt: skip
    threshold = {
        "rule_id": "bp.crisis",
        "params": {"thresholds": [175.0, 115.0]},
        "reason": "stroke",
    }
    bind_free = {"patient_id": po2}
    silence = {"rule_id": "bp.uncontrolled", "ends_at": "2099-01-01T00:00:00+00:00",
               "reason": "clinic visit"}  # fmt: skip
    new = {"id": f"{w.tag}-new-{own}", "team_id": o.id, "display_name": "New patient"}
    return [
        Case("GET", "/api/v1/teams", staff(OK)),
        Case("GET", "/api/v1/patients", staff(OK)),
        Case("GET", f"/api/v1/patients/{po}", staff(OK, patient=OK)),
        Case("GET", f"/api/v1/patients/{po2}", staff(OK, patient=MISSING)),
        Case("GET", f"/api/v1/patients/{px}", staff(MISSING, patient=MISSING)),
        Case("GET", f"/api/v1/patients/{po}/readings", staff(OK, patient=OK)),
        Case("GET", f"/api/v1/patients/{px}/readings", staff(MISSING, patient=MISSING)),
        Case("GET", f"/api/v1/patients/{po}/trends", staff(OK, patient=OK)),
        Case("GET", f"/api/v1/patients/{px}/trends", staff(MISSING, patient=MISSING)),
        Case("GET", "/api/v1/alerts", staff(OK, patient=OK)),
        Case("GET", f"/api/v1/alerts/{o.alert_id}", staff(OK, patient=OK)),
        Case("GET", f"/api/v1/alerts/{x.alert_id}", staff(MISSING, patient=MISSING)),
        Case("POST", f"/api/v1/alerts/{o.alert_id}/comment", staff(OK), {"text": "called"}),
        Case("POST", f"/api/v1/alerts/{x.alert_id}/comment", staff(MISSING), {"text": "hi"}),
        Case("GET", "/api/v1/devices", staff(OK)),
        Case("GET", f"/api/v1/devices/{o.device}", staff(OK, device=OK)),
        Case("GET", f"/api/v1/devices/{x.device}", staff(MISSING, device=MISSING)),
        Case("GET", f"/api/v1/devices/{o.device}/bindings", staff(OK)),
        Case("GET", f"/api/v1/patients/{po}/thresholds", staff(OK)),
        Case("POST", f"/api/v1/patients/{po}/thresholds", admin(CREATED), threshold),
        Case("POST", f"/api/v1/patients/{px}/thresholds", admin(MISSING), threshold),
        Case("POST", "/api/v1/patients", admin(CREATED), new),
        Case("POST", "/api/v1/patients", admin(MISSING), {**new, "team_id": x.id}),
        Case("PATCH", f"/api/v1/patients/{px}", admin(MISSING), {"display_name": "Mallory"}),
        Case("POST", f"/api/v1/devices/{w.free_device}/bindings", admin(CREATED), bind_free),
        Case("POST", f"/api/v1/devices/{x.device}/bindings", admin(MISSING), {"patient_id": po}),
        Case("GET", f"/api/v1/teams/{o.id}/roster", staff(OK)),
        Case("GET", f"/api/v1/teams/{x.id}/roster", staff(MISSING)),
        Case("POST", f"/api/v1/teams/{o.id}/roster/shifts", admin(CREATED), shift),
        Case("POST", f"/api/v1/teams/{x.id}/roster/shifts", admin(MISSING), shift),
        Case("GET", "/api/v1/audit", admin(OK)),
        Case("GET", f"/api/v1/patients/{po}/silences", staff(OK)),
        Case("GET", f"/api/v1/patients/{px}/silences", staff(MISSING)),
        Case("POST", f"/api/v1/patients/{po}/silences", staff(CREATED), silence),
        Case("POST", f"/api/v1/patients/{px}/silences", staff(MISSING), silence),
        Case("GET", f"/api/v1/teams/{o.id}/tasks", staff(OK)),
        Case("GET", f"/api/v1/teams/{x.id}/tasks", staff(MISSING)),
        Case("GET", f"/api/v1/teams/{o.id}/kpis", staff(OK)),
        Case("GET", f"/api/v1/teams/{x.id}/kpis?format=csv", staff(MISSING)),
        Case("GET", f"/api/v1/teams/{x.id}/kpis.csv", staff(MISSING)),
        Case("GET", f"/api/v1/patients/{po}/follow-ups", staff(OK)),
        Case("GET", f"/api/v1/patients/{px}/follow-ups", staff(MISSING)),
        Case("GET", f"/api/v1/patients/{po}/risk-history", staff(OK)),
        Case("GET", f"/api/v1/patients/{px}/risk-history", staff(MISSING)),
        Case(
            "POST", f"/api/v1/tasks/{uuid.uuid4()}/complete", staff(MISSING), {"outcome": "reached"}
        ),
    ]


def foreign_markers(w: World, own: int, role: str) -> list[str]:
    """Names and ids of patients the caller must never be shown."""
    markers = [m for i, t in enumerate(w.teams) if i != own for m in (*t.names, *t.patients)]
    if role == "patient":
        markers += [w.teams[own].names[1], w.teams[own].patients[1]]
    return markers


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("team", range(TEAMS))
async def test_access_matrix(dsn: str, tag: str, team: int, role: str) -> None:
    world = await seed(dsn, tag)
    other = (team + 1) % TEAMS
    markers = foreign_markers(world, team, role)
    failures = []
    async with api_client(dsn) as client:
        for case in cases(world, team, other):
            r = await client.request(case.method, case.path, json=case.body,
                                     headers=world.bearer(team, role))  # fmt: skip
            want = case.expect.get(role, 401)
            if r.status_code != want:
                failures.append(f"{case.method} {case.path}: {r.status_code} != {want} {r.text}")
            if r.status_code >= 400:
                assert set(r.json()) == {"error"}, r.text
                if r.status_code == 401:
                    assert r.json()["error"]["code"] == "unauthenticated"
            leaked = [m for m in markers if m in r.text] if r.status_code < 300 else []
            leaked += [m for m in markers if m in r.text and "Zed" in m]  # names: never
            if leaked:
                failures.append(f"{case.method} {case.path} leaks {sorted(set(leaked))}")
    assert not failures, "\n".join(failures)
