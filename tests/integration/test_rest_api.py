"""REST API behaviour per endpoint on real PostgreSQL: pages, trend buckets in both storage
modes, alert reads and actions through PgResponse, versioned thresholds, enrolment, rosters,
the audit trail, and JSON errors with stable codes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
import pytest

from tests.integration.conftest import Databases
from tests.integration.rest_world import api_client, seed, utc_now

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]

V1 = "/api/v1"


def audit_rows(dsn: str, action: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "SELECT actor, role, resource, patient_id, detail FROM audit_log"
            " WHERE action = %s ORDER BY id",
            (action,),
        ).fetchall()


async def test_errors_are_json_with_stable_codes(dsn: str, tag: str) -> None:
    w = await seed(dsn, tag)
    nurse = w.bearer(0, "nurse")
    async with api_client(dsn) as c:
        expected = [
            (await c.get(f"{V1}/nowhere", headers=nurse), 404, "not_found"),
            (await c.delete(f"{V1}/patients", headers=nurse), 405, "method_not_allowed"),
            (await c.get(f"{V1}/patients?limit=0", headers=nurse), 422, "invalid_request"),
            (await c.get(f"{V1}/alerts/not-a-uuid", headers=nurse), 422, "invalid_request"),
            (
                await c.get(f"{V1}/patients", headers={"Authorization": "Basic x"}),
                401,
                "unauthenticated",
            ),
            (await c.get(f"{V1}/alerts?cursor=%%%", headers=nurse), 422, "invalid_request"),
            (
                await c.get(f"{V1}/alerts/{w.teams[1].alert_id}", headers=nurse),
                404,
                "alert_not_found",
            ),
        ]
    for r, status, code in expected:
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text
        assert isinstance(r.json()["error"]["message"], str)


async def test_readings_come_newest_first_in_pages(dsn: str, tag: str) -> None:
    w = await seed(dsn, tag)
    pid = w.teams[0].patients[0]
    seen: list[dict[str, Any]] = []
    async with api_client(dsn) as c:
        url: str | None = f"{V1}/patients/{pid}/readings?limit=4&metric=systolic_bp"
        while url:
            page = (await c.get(url, headers=w.bearer(0, "doctor"))).json()
            seen += page["items"]
            cursor = page["next_cursor"]
            url = f"{V1}/patients/{pid}/readings?limit=4&cursor={cursor}" if cursor else None
        other = await c.get(
            f"{V1}/patients/{pid}/readings?metric=spo2", headers=w.bearer(0, "nurse")
        )
        bad = await c.get(f"{V1}/patients/{pid}/readings?metric=mood", headers=w.bearer(0, "nurse"))
    assert [r["seq"] for r in seen] == [6, 5, 4, 3, 2, 1]
    assert other.json() == {"items": [], "next_cursor": None}
    assert bad.status_code == 422
    rows = audit_rows(dsn, "read")
    assert (w.staff(0, "doctor"), "doctor", "readings", pid) in [r[:4] for r in rows]


@pytest.mark.parametrize("mode", ["plain", "timescaledb"])
async def test_trend_buckets_in_both_storage_modes(
    databases: Databases, tag: str, mode: str
) -> None:
    dsn = databases.create_in_mode(tag, mode)
    w = await seed(dsn, tag)
    pid = w.teams[0].patients[0]
    async with api_client(dsn) as c:
        r = await c.get(f"{V1}/patients/{pid}/trends?bucket_s=10800&metric=systolic_bp",
                        headers=w.bearer(0, "patient"))  # fmt: skip
        too_many = await c.get(f"{V1}/patients/{pid}/trends?bucket_s=60&since=2000-01-01T00:00Z",
                               headers=w.bearer(0, "nurse"))  # fmt: skip
    body = r.json()
    assert body["storage_mode"] == mode
    buckets = body["buckets"]
    assert sum(b["count"] for b in buckets) == 6 and {b["metric"] for b in buckets} == {
        "systolic_bp"
    }
    assert min(b["min"] for b in buckets) == 120.0 and max(b["max"] for b in buckets) == 125.0
    assert all(b["min"] <= b["mean"] <= b["max"] for b in buckets)
    assert too_many.status_code == 422


async def test_alert_list_filters_and_detail_with_events(dsn: str, tag: str) -> None:
    w = await seed(dsn, tag)
    a = w.teams[0].alert_id
    async with api_client(dsn) as c:
        crit = (await c.get(f"{V1}/alerts?severity=critical&status=open",
                            headers=w.bearer(0, "nurse"))).json()  # fmt: skip
        none = (await c.get(f"{V1}/alerts?severity=moderate", headers=w.bearer(0, "nurse"))).json()
        detail = (await c.get(f"{V1}/alerts/{a}", headers=w.bearer(0, "nurse"))).json()
        mine = (await c.get(f"{V1}/alerts/{a}", headers=w.bearer(0, "patient"))).json()
    assert [x["id"] for x in crit["items"]] == [a] and none["items"] == []
    assert detail["events"] and detail["events"][0]["kind"] == "opened"
    assert mine["id"] == a and mine["events"] == []  # clinicians' notes stay with clinicians
    assert [r[3] for r in audit_rows(dsn, "list")] == [w.teams[0].patients[0]]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"outcome": "visit_booked"}, 422),
        ({"outcome": "visit_booked", "visit_at": "2030-01-02T09:30:00+08:00"}, 422),
        ({"outcome": "visit_booked", "visit_place": "Clinic 3"}, 422),
        ({"outcome": "callback_done", "visit_place": "Clinic 3"}, 422),
        (
            {
                "outcome": "visit_booked",
                "visit_at": "2030-01-02T09:30:00",
                "visit_place": "Clinic 3",
            },
            422,
        ),
        (
            {
                "outcome": "visit_booked",
                "visit_at": "2030-01-02T09:30:00+08:00",
                "visit_place": "Clinic 3",
                "note": "sees Dr Li",
            },
            200,
        ),
        ({"outcome": "callback_done", "note": "advised rest"}, 200),
    ],
)
async def test_a_booked_visit_says_when_and_where(
    dsn: str, tag: str, body: dict[str, str], status: int
) -> None:
    w = await seed(dsn, tag)
    a = w.teams[0].alert_id
    async with api_client(dsn) as c:
        resolved = await c.post(
            f"{V1}/alerts/{a}/resolve", json=body, headers=w.bearer(0, "doctor")
        )
        events = (await c.get(f"{V1}/alerts/{a}", headers=w.bearer(0, "doctor"))).json()["events"]
    assert resolved.status_code == status, resolved.text
    recorded = [e["payload"] for e in events if e["kind"] == "resolved"]
    expected = {**body, "note": body.get("note", "")}
    keys = ("outcome", "note", "visit_at", "visit_place")
    if status == 200:
        assert [{k: p[k] for k in keys if k in p} for p in recorded] == [expected]
    else:
        assert recorded == []


async def test_alert_actions_go_through_the_response(dsn: str, tag: str) -> None:
    w = await seed(dsn, tag)
    a, later = w.teams[0].alert_id, (utc_now() + timedelta(hours=1)).isoformat()
    nurse, doctor = w.bearer(0, "nurse"), w.bearer(0, "doctor")
    async with api_client(dsn) as c:
        refused = await c.post(f"{V1}/alerts/{a}/acknowledge", json={}, headers=nurse)
        acked = await c.post(f"{V1}/alerts/{a}/acknowledge", json={"note": "on it"}, headers=doctor)
        foreign = await c.post(f"{V1}/alerts/{a}/assign",
                               json={"staff_id": w.staff(1, "nurse")}, headers=doctor)  # fmt: skip
        assigned = await c.post(f"{V1}/alerts/{a}/assign", json={"staff_id": w.staff(0, "nurse")},
                                headers=doctor)  # fmt: skip
        past = await c.post(f"{V1}/alerts/{a}/snooze",
                            json={"until": "2001-01-01T00:00:00Z", "reason": "x"}, headers=nurse)  # fmt: skip
        resolved = await c.post(f"{V1}/alerts/{a}/resolve", json={"outcome": "callback_done"},
                                headers=nurse)  # fmt: skip
        after = await c.post(f"{V1}/alerts/{a}/snooze", json={"until": later, "reason": "x"},
                             headers=nurse)  # fmt: skip
        events = (await c.get(f"{V1}/alerts/{a}", headers=nurse)).json()["events"]
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "action_refused")
    assert acked.status_code == 200 and acked.json()["acknowledged_by"] == w.staff(0, "doctor")
    assert (foreign.status_code, foreign.json()["error"]["code"]) == (422, "invalid_action")
    assert assigned.json()["assigned_to"] == w.staff(0, "nurse")
    assert past.status_code == 422
    assert resolved.json()["status"] == "resolved" and resolved.json()["outcome"] == "callback_done"
    assert (after.status_code, after.json()["error"]["code"]) == (409, "action_refused")
    kinds = [e["kind"] for e in events]
    assert {"acknowledged", "assigned", "resolved"} <= set(kinds)
    actions = [r[0] for r in audit_rows(dsn, "acknowledge") + audit_rows(dsn, "resolve")]
    assert actions == [w.staff(0, "doctor"), w.staff(0, "nurse")]


async def test_actions_without_a_response_answer_503(dsn: str, tag: str) -> None:
    w = await seed(dsn, tag)
    async with api_client(dsn, actions=False) as c:
        r = await c.post(f"{V1}/alerts/{w.teams[0].alert_id}/comment", json={"text": "x"},
                         headers=w.bearer(0, "nurse"))  # fmt: skip
    assert (r.status_code, r.json()["error"]["code"]) == (503, "unavailable")


async def test_threshold_overrides_are_versioned_and_checked(dsn: str, tag: str) -> None:
    w = await seed(dsn, tag)
    url = f"{V1}/patients/{w.teams[0].patients[0]}/thresholds"
    admin = w.bearer(0, "admin")
    body = {"rule_id": "bp.crisis", "params": {"thresholds": [175.0, 115.0]}, "reason": "stroke"}
    async with api_client(dsn) as c:
        first = await c.post(url, json=body, headers=admin)
        second = await c.post(url, json={**body, "params": {"persistence_n": 2}}, headers=admin)
        unknown = await c.post(url, json={**body, "rule_id": "no.such"}, headers=admin)
        key = await c.post(url, json={**body, "params": {"colour": 1}}, headers=admin)
        arity = await c.post(url, json={**body, "params": {"thresholds": [1.0]}}, headers=admin)
        listed = (await c.get(url, headers=w.bearer(0, "nurse"))).json()
    assert (first.json()["version"], second.json()["version"]) == (1, 2)
    assert first.json()["changed_by"] == w.staff(0, "admin")
    assert [r.status_code for r in (unknown, key, arity)] == [422, 422, 422]
    assert [v["version"] for v in listed] == [2, 1]


async def test_enrolment_patients_devices_and_bindings(dsn: str, tag: str) -> None:
    w = await seed(dsn, tag)
    admin, team = w.bearer(0, "admin"), w.teams[0]
    p = {"id": f"{tag}-pn", "team_id": team.id, "display_name": "Nia", "tz": "Asia/Shanghai"}
    async with api_client(dsn) as c:
        created = await c.post(f"{V1}/patients", json=p, headers=admin)
        again = await c.post(f"{V1}/patients", json=p, headers=admin)
        bad_tz = await c.post(f"{V1}/patients", json={**p, "tz": "Mars/Olympus"}, headers=admin)
        foreign_doc = await c.patch(f"{V1}/patients/{p['id']}",
                                    json={"responsible_doctor": w.staff(1, "doctor")}, headers=admin)  # fmt: skip
        patched = await c.patch(f"{V1}/patients/{p['id']}",
                                json={"display_name": "Nia L", "responsible_doctor": w.staff(0, "doctor")},
                                headers=admin)  # fmt: skip
        unit = await c.patch(
            f"{V1}/patients/{p['id']}", json={"glucose_unit": "mmol/L"}, headers=admin
        )
        bad_unit = await c.patch(
            f"{V1}/patients/{p['id']}", json={"glucose_unit": "mmol/l"}, headers=admin
        )
        read = (await c.get(f"{V1}/patients/{p['id']}", headers=admin)).json()
        unset = await c.patch(
            f"{V1}/patients/{p['id']}", json={"glucose_unit": None}, headers=admin
        )
        dev = await c.post(
            f"{V1}/devices", json={"id": f"{tag}-g1", "kind": "glucometer"}, headers=admin
        )
        dup = await c.post(
            f"{V1}/devices", json={"id": f"{tag}-g1", "kind": "glucometer"}, headers=admin
        )
        svc = await c.post(f"{V1}/devices", json={"id": "svc-x", "kind": "cgm"}, headers=admin)
        t0 = utc_now()
        b1 = await c.post(f"{V1}/devices/{tag}-g1/bindings",
                          json={"patient_id": p["id"], "valid_from": t0.isoformat()}, headers=admin)  # fmt: skip
        b2 = await c.post(f"{V1}/devices/{tag}-g1/bindings",
                          json={"patient_id": team.patients[1],
                                "valid_from": (t0 + timedelta(minutes=1)).isoformat()},
                          headers=admin)  # fmt: skip
        history = (await c.get(f"{V1}/devices/{tag}-g1/bindings", headers=admin)).json()
        device = (await c.get(f"{V1}/devices/{tag}-g1", headers=w.bearer(0, "nurse"))).json()
    assert created.status_code == 201 and created.json()["tz"] == "Asia/Shanghai"
    assert (again.status_code, again.json()["error"]["code"]) == (409, "conflict")
    assert bad_tz.status_code == 422 and foreign_doc.status_code == 422
    assert patched.json()["display_name"] == "Nia L"
    # the glucose unit of the patient's messages: none chosen (their device's, else their
    # language's), a clinician's choice, and back to none
    assert (created.json()["glucose_unit"], unit.json()["glucose_unit"]) == (None, "mmol/L")
    assert (bad_unit.status_code, read["glucose_unit"]) == (422, "mmol/L")
    assert unset.json()["glucose_unit"] is None
    assert (dev.status_code, dup.status_code, svc.status_code) == (201, 409, 422)
    assert (b1.status_code, b2.status_code) == (201, 201)
    assert [(b["patient_id"], b["valid_to"] is None) for b in history] == [
        (team.patients[1], True), (p["id"], False)]  # fmt: skip
    assert device["patient_id"] == team.patients[1]


async def test_roster_edits_and_who_is_on_call(dsn: str, tag: str) -> None:
    w = await seed(dsn, tag)
    team, admin = w.teams[0].id, w.bearer(0, "admin")
    base = f"{V1}/teams/{team}/roster"
    shift = {"staff_id": w.staff(0, "nurse"), "role": "nurse", "tz": "UTC",
             "weekdays": [0, 1, 2, 3, 4, 5, 6], "start_time": "00:00", "end_time": "00:00"}  # fmt: skip
    async with api_client(dsn) as c:
        added = (await c.post(f"{base}/shifts", json=shift, headers=admin)).json()
        outsider = await c.post(f"{base}/shifts", json={**shift, "staff_id": w.staff(1, "nurse")},
                                headers=admin)  # fmt: skip
        backups = await c.put(f"{base}/backups/doctor", json={"staff_ids": [w.staff(0, "doctor")]},
                              headers=admin)  # fmt: skip
        roster = (await c.get(base, headers=w.bearer(0, "nurse"))).json()
        gone = await c.delete(f"{base}/shifts/{added['id']}", headers=admin)
        again = await c.delete(f"{base}/shifts/{added['id']}", headers=admin)
        audit = (await c.get(f"{V1}/audit?limit=1000", headers=admin)).json()
        other_audit = (await c.get(f"{V1}/audit?limit=1000", headers=w.bearer(1, "admin"))).json()
    assert outsider.status_code == 422
    assert backups.json() == {"doctor": [w.staff(0, "doctor")]}
    on_call = {t["role"]: t for t in roster["on_call"]}
    assert on_call["nurse"]["primary"] == [w.staff(0, "nurse")]
    assert on_call["doctor"] == {"tier": 3, "role": "doctor", "primary": [],
                                 "backup": [w.staff(0, "doctor")]}  # fmt: skip
    assert (gone.status_code, again.status_code) == (204, 404)
    assert {"add_shift", "set_backups", "delete_shift"} <= {e["action"] for e in audit}
    assert not {"add_shift", "set_backups"} & {e["action"] for e in other_audit}
