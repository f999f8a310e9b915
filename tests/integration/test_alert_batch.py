"""The batched alert writer (alerts._batch) on real PostgreSQL, on a fake clock: for clinical
batches it leaves exactly the database the per-detection writer leaves (alerts, events in the
same order with the same ids and payloads, pages, patient messages, callback tasks, audit rows),
and a detection the database refuses does not hold back the rest of its batch, nor vanishes: it
is kept once in `refused_detections` and staff get a `detection_unrecorded` technical alert."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

import numpy as np
import psycopg
import pytest
import pytest_asyncio
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from alerts.repository import PgAlertStore
from alerts.silences import add_silence
from api.registry import upsert_patient, upsert_staff, upsert_team
from stream.detections import Detection, Kind
from tests.integration.conftest import Databases
from tests.integration.test_response import T0, FakeClock, backup, det, roster

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(90)]

HOUR = 3600  # seq is seconds after T0 in `det`


def late(d: Detection) -> Detection:
    return replace(d, late=True)


# name -> batches (recorded in turn, the clock one minute on between them)
SCENARIOS: dict[str, list[list[Detection]]] = {
    "a crisis opens and repeats within one batch": [
        [det("bp.crisis", 1, 190.0), det("bp.crisis", 2, 205.0), det("bp.crisis", 3, 185.0)],
    ],
    "a moderate alert opens, clears (auto-resolved) and opens again, one batch": [
        [det("bp.uncontrolled", 1, 165.0), det("bp.uncontrolled", 2, 130.0, Kind.CLEARED),
         det("bp.uncontrolled", 2 * HOUR, 170.0), det("bp.uncontrolled", 2 * HOUR + 1, 172.0)],
    ],
    "new and existing alerts mixed, two patients": [
        [det("bp.crisis", 1, 190.0), det("glucose.high", 2, 320.0)],
        [det("bp.crisis", 3, 200.0), det("spo2.severe", 4, 86.0),
         det("glucose.high", 5, 330.0, patient="p2"), det("glucose.high", 6, 340.0),
         det("bp.uncontrolled", 7, 150.0, patient="p2")],
    ],
    "a low glucose goes to the patient first, then recurs": [
        [det("glucose.level1_low", 1, 62.0), det("glucose.level1_low", 2, 60.0)],
        [det("glucose.level1_low", 3, 75.0, Kind.CLEARED),
         det("glucose.level1_low", 3 * HOUR, 61.0),
         det("glucose.level1_low", 3 * HOUR + 1, 59.0)],
    ],
    "silenced, late and dangerous findings": [
        [det("glucose.high", 1, 320.0, patient="p2"), late(det("bp.crisis", 2, 200.0)),
         det("spo2.severe", 3, 84.0, patient="p2"), det("glucose.high", 4, 330.0, patient="p2")],
    ],
    "details computed by the stream (numpy numbers) travel in the events": [
        [replace(det("glucose.high", 1, 320.0), details=(("slope_per_h", np.float64(12.5)),
                                                         ("window", "3h"), ("n", 4.0))),
         replace(det("glucose.high", 2, 330.0), details=(("slope_per_h", np.float64(-0.1)),))],
    ],
    "nobody on call in team B: pages without a person, the backups": [
        [det("bp.crisis", 1, 200.0, patient="p3"), det("glucose.high", 2, 330.0, patient="p3"),
         det("bp.crisis", 3, 190.0)],
    ],
    "a replayed batch changes nothing": [
        [det("bp.crisis", 1, 190.0), det("glucose.high", 2, 320.0)],
        [det("bp.crisis", 1, 190.0), det("glucose.high", 2, 320.0), det("glucose.high", 2, 320.0)],
    ],
}  # fmt: skip


async def _world(dsn: str) -> None:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await upsert_team(conn, "A", "Team A", "Asia/Shanghai")
        for staff_id, role in [("n1", "nurse"), ("n2", "nurse"), ("d1", "doctor")]:
            await upsert_staff(conn, staff_id, staff_id, role, ["A"])
        await upsert_patient(conn, "p1", "A", "Patient One")
        await upsert_patient(conn, "p2", "A", "Patient Two")
        await upsert_team(conn, "B", "Team B")  # no roster
        await upsert_patient(conn, "p3", "B", "Patient Three")
        await roster(conn, ("n1", "nurse"), ("d1", "doctor"))
        await backup(conn, "n2", "nurse")
        await add_silence(conn, "p2", "glucose.high", T0, T0 + timedelta(days=1), "on a drip", "d1")


TABLES = {
    "alerts": "SELECT * FROM alerts ORDER BY id",
    "alert_events": "SELECT event_id, alert_id, patient_id, kind, at, payload, actor, tier"
    " FROM alert_events ORDER BY seq",
    "detections": "SELECT id FROM detections ORDER BY id",
    "pages": "SELECT alert_id, tier, staff_id, backup, fence, at FROM pages ORDER BY id",
    "patient_messages": "SELECT id, alert_id, patient_id, template, lang, body"
    " FROM patient_messages ORDER BY id",
    "care_tasks": "SELECT id, patient_id, kind, status, due_at, alert_id, owner FROM care_tasks"
    " ORDER BY id",
    "audit_log": "SELECT at, actor, action, resource, patient_id, detail FROM audit_log ORDER BY id",
}


async def snapshot(dsn: str) -> dict[str, list[dict[str, Any]]]:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        cur = conn.cursor(row_factory=dict_row)
        tables = {}
        for name, sql in TABLES.items():
            await cur.execute(sql)
            tables[name] = [{k: v for k, v in r.items() if k != "updated_at"}
                            for r in await cur.fetchall()]  # fmt: skip
        return tables


async def run(dsn: str, batches: Sequence[Sequence[Detection]], batched: bool) -> PgAlertStore:
    clock = FakeClock()
    async with AsyncConnectionPool(dsn, min_size=1, max_size=2, open=False) as pool:
        store = PgAlertStore(pool, clock)
        for batch in batches:
            await (store.record(batch) if batched else store.record_singly(batch))
            clock.advance(minutes=1)
    return store


@pytest_asyncio.fixture
async def two(databases: Databases, tag: str) -> AsyncIterator[tuple[str, str]]:
    dsns = (databases.create(tag + "b"), databases.create(tag + "s"))
    for dsn in dsns:
        await _world(dsn)
    yield dsns


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_a_batch_leaves_what_the_per_detection_writer_leaves(
    two: tuple[str, str], name: str
) -> None:
    batched, single = two
    store = await run(batched, SCENARIOS[name], batched=True)
    await run(single, SCENARIOS[name], batched=False)
    assert (store.fallbacks, store.refused) == (0, 0)  # the batch path itself ran
    got, want = await snapshot(batched), await snapshot(single)
    assert got["alert_events"], "the scenario records events"
    for table in TABLES:
        assert got[table] == want[table], table


async def test_events_follow_the_batch_in_order_and_ids_do_not_depend_on_batching(
    two: tuple[str, str],
) -> None:
    """Open, then updates, in measurement order whatever order the batch came in; the same
    detections split into other batches give the same alert and event ids."""
    whole, split = two
    found = [det("bp.crisis", 3, 185.0), det("bp.crisis", 1, 190.0), det("bp.crisis", 2, 205.0)]
    await run(whole, [found], batched=True)
    await run(split, [[d] for d in sorted(found, key=lambda d: d.seq)], batched=True)
    got, want = await snapshot(whole), await snapshot(split)
    kinds = [(e["kind"], e["payload"].get("seq")) for e in got["alert_events"]]
    assert kinds[0] == ("opened", 1)
    assert [k for k in kinds if k[0] == "updated"] == [("updated", 2), ("updated", 3)]
    assert [e["event_id"] for e in got["alert_events"]] == [
        e["event_id"] for e in want["alert_events"]
    ]
    assert [a["id"] for a in got["alerts"]] == [a["id"] for a in want["alerts"]]
    assert got["alerts"][0]["count"] == 3


async def test_a_detection_the_database_refuses_does_not_hold_back_its_batch(
    two: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    dsn, _ = two
    ghost = det("bp.crisis", 2, 200.0, patient="ghost")  # nobody enrolled: no alert can exist
    batch = [det("bp.crisis", 1, 190.0), ghost, det("glucose.high", 3, 320.0)]
    with caplog.at_level(logging.WARNING, logger="alerts.repository"):
        store = await run(dsn, [batch], batched=True)
    assert (store.fallbacks, store.refused) == (1, 1)
    got = await snapshot(dsn)
    assert sorted(a["rule_id"] for a in got["alerts"]) == ["bp.crisis", "glucose.high"]
    assert {a["patient_id"] for a in got["alerts"]} == {"p1"}
    assert ghost.id not in {d["id"] for d in got["detections"]}  # a retry can still record it
    refused = [r.getMessage() for r in caplog.records if "not recorded" in r.getMessage()]
    assert len(refused) == 1 and str(ghost.id) in refused[0]
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await upsert_patient(conn, "ghost", "A", "Enrolled Later")
    store = await run(dsn, [[ghost]], batched=True)
    assert (store.fallbacks, store.refused) == (0, 0)
    assert "ghost" in {a["patient_id"] for a in (await snapshot(dsn))["alerts"]}


async def kept(dsn: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The refused detections kept, and the technical alerts raised."""
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute("SELECT * FROM refused_detections ORDER BY detection_id")
        refused = await cur.fetchall()
        await cur.execute("SELECT kind, subject, detail, status, count FROM technical_alerts")
        return refused, await cur.fetchall()


UNRECORDABLE = {  # a finding about a patient nobody enrolled: it cannot become an alert
    "dangerous": det("spo2.severe", 2, 84.0, patient="ghost"),
    "routine": det("bp.uncontrolled", 2, 150.0, patient="ghost"),
}


@pytest.mark.parametrize("case", list(UNRECORDABLE))
async def test_a_detection_that_cannot_be_recorded_is_kept_and_staff_are_told(
    two: tuple[str, str], case: str
) -> None:
    with_ghost, without = two
    ghost = UNRECORDABLE[case]
    assert ghost.dangerous is (case == "dangerous")
    good = [det("bp.crisis", 1, 190.0), det("glucose.high", 3, 320.0),
            det("spo2.severe", 4, 86.0, patient="p2")]  # fmt: skip
    store = await run(with_ghost, [[*good, ghost]], batched=True)
    await run(without, [good], batched=True)
    assert (store.fallbacks, store.refused) == (1, 1)
    recorded = await snapshot(with_ghost)
    assert recorded == await snapshot(without)  # the good ones exactly as without the ghost
    refused, technical = await kept(with_ghost)
    assert [(r["detection_id"], r["patient_id"], r["rule_id"], r["kind"], r["severity"],
             r["dangerous"], r["reason"]) for r in refused] == [
        (ghost.id, "ghost", ghost.rule_id, "fired", ghost.severity.value, ghost.dangerous,
         "ForeignKeyViolation, SQLSTATE 23503")]  # fmt: skip
    whole = refused[0]["detection"]
    assert (whole["id"], whole["value"], whole["measured_at"], whole["dangerous"]) == (
        str(ghost.id), ghost.value, ghost.measured_at.isoformat(), ghost.dangerous,
    )  # fmt: skip
    opened = [(t["kind"], t["subject"], t["status"], t["count"]) for t in technical]
    assert opened == [("detection_unrecorded", "ghost", "open", 1)]
    assert ghost.rule_id in technical[0]["detail"] and "23503" in technical[0]["detail"]

    again = await run(with_ghost, [[*good, ghost]], batched=True)  # redelivered
    assert (again.fallbacks, again.refused) == (1, 1)  # refused again, kept once
    assert await snapshot(with_ghost) == recorded
    assert await kept(with_ghost) == (refused, technical)
