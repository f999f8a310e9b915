"""The care program's tables on real PostgreSQL (migration 0008, program.repository): versioned
medications and plan items answer "what was it on that day", and adherence is computed from
stored readings in the patient's time zone."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest

from api import registry
from program import repository as repo
from program.adherence import Counts
from program.records import Condition, Medication

SH = ZoneInfo("Asia/Shanghai")
pytestmark = pytest.mark.asyncio


async def _patient(conn: psycopg.AsyncConnection[Any], tag: str) -> str:
    await registry.upsert_team(conn, f"{tag}-t", "Team")
    await registry.upsert_patient(conn, f"{tag}-p", f"{tag}-t", "P")
    await conn.execute("UPDATE patients SET tz = 'Asia/Shanghai' WHERE id = %s", (f"{tag}-p",))
    return f"{tag}-p"


async def _reading(conn: psycopg.AsyncConnection[Any], pid: str, at: datetime, seq: int) -> None:
    await conn.execute(
        "INSERT INTO readings (time, device_id, seq, metric, patient_id, value, unit, orig_value,"
        " orig_unit, received_at) VALUES (%s, 'dev', %s, 'glucose', %s, 100, 'mg/dL', 100,"
        " 'mg/dL', %s)",
        (at, seq, pid, at),
    )


async def test_medication_versions_answer_what_it_was_on_that_day(
    aconn: psycopg.AsyncConnection[Any], tag: str
) -> None:
    pid = await _patient(aconn, tag)
    t0 = datetime(2026, 5, 1, 9, tzinfo=SH)
    t1 = t0 + timedelta(days=10)
    await repo.set_medication(aconn, pid, Medication("met", "Metformin", "500 mg", (time(8),)),
                              "dr", t0)  # fmt: skip
    await repo.set_medication(aconn, pid, Medication("met", "Metformin", "1000 mg",
                              (time(8), time(20))), "dr", t1, "HbA1c 8.1 %")  # fmt: skip
    before = await repo.medications(aconn, pid, t0 + timedelta(days=5))
    after = await repo.medications(aconn, pid, t1)
    assert [m.dose for m in before] == ["500 mg"] and [m.dose for m in after] == ["1000 mg"]
    assert len(await repo.medications(aconn, pid, None)) == 2  # nothing overwritten
    assert await repo.add_condition(aconn, pid, Condition("icd10", "E11.9", "T2DM"), "dr", t0)
    assert not await repo.add_condition(aconn, pid, Condition("icd10", "E11.9", "T2DM"), "dr", t1)
    record = await repo.get_record(aconn, pid, t1)
    assert record is not None and [c.code for c in record.conditions] == ["E11.9"]


async def test_adherence_from_stored_readings(
    aconn: psycopg.AsyncConnection[Any], tag: str
) -> None:
    # Daily fasting glucose from May 1 (local); readings at 00:30 local on May 4-10 (local days
    # that are still May 3-9 in UTC). At May 10 12:00: last 7 days May 4-10 all met (7/7); last
    # 30 days May 1-10: 10 expected, 7 met. Days with data: 7 of the period from May 1.
    pid = await _patient(aconn, tag)
    await repo.save_record(aconn, pid, {"enrolled_on": date(2026, 5, 1)}, "admin",
                           datetime(2026, 5, 1, tzinfo=SH))  # fmt: skip
    await repo.apply_template(
        aconn, pid, "type2_diabetes", "admin", datetime(2026, 5, 1, tzinfo=SH)
    )
    for seq, d in enumerate(range(4, 11)):
        await _reading(aconn, pid, datetime(2026, 5, d, 0, 30, tzinfo=SH), seq)
    items, billing = await repo.adherence(aconn, pid, "Asia/Shanghai", date(2026, 5, 1),
                                          datetime(2026, 5, 10, 12, tzinfo=SH))  # fmt: skip
    assert [(i.item_key, i.last_7d, i.last_30d) for i in items] == [
        ("fasting_glucose", Counts(7, 7), Counts(10, 7))
    ]
    assert (billing.days_with_data, billing.days_left, billing.reachable) == (7, 20, True)
    many = await repo.adherence_many(aconn, datetime(2026, 5, 10, 12, tzinfo=SH))
    assert many[pid] == (items, billing)  # the batch for a recompute agrees with the one-off
