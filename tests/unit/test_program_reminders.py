"""Scheduled tier-1 messages and the plan-aware "stopped measuring" rule (issue 11 parts 3, 4, 8):
reminders at the plan's and the medication schedule's local times (DST included), quiet hours,
opt-out, deterministic ids (delivered once), weekly advice; the stopped rule's two stages."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from program.plans import TEMPLATES, Frequency, PlanItem
from program.records import Medication
from program.reminders import Prefs, due_messages, quiet
from program.stopped import Stopped, check

NY = ZoneInfo("America/New_York")
SH = ZoneInfo("Asia/Shanghai")
BP = TEMPLATES["hypertension"].items[0]  # 07:30 and 19:30
MET = Medication("metformin", "Metformin", "500 mg", (time(8), time(22, 30)))


def at(tz: ZoneInfo, d: int, h: int, mi: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, d, h, mi, tzinfo=tz)


def sent(prefs: Prefs, since: datetime, now: datetime) -> list[tuple[str, str, str]]:
    found = due_messages("p1", prefs, [BP], [MET], "hypertension", since, now)
    return [(m.template, m.ref_key, m.slot_at.astimezone(UTC).strftime("%d %H:%M")) for m in found]


@pytest.mark.parametrize(
    ("day", "utc"),
    [(7, ("07 12:30", "07 13:00")),  # EST (UTC-5) the day before the change
     (8, ("08 11:30", "08 12:00")),  # EDT (UTC-4) from 2026-03-08
     (9, ("09 11:30", "09 12:00"))],
)  # fmt: skip
def test_reminders_follow_local_time_across_the_dst_change(day: int, utc: tuple[str, str]) -> None:
    prefs = Prefs("America/New_York", "en")
    got = sent(prefs, at(NY, day, 7), at(NY, day, 8, 30))
    assert got == [("measure_reminder", "bp", utc[0]), ("medication_reminder", "metformin", utc[1])]


def test_the_texts_are_in_the_patients_language() -> None:
    msgs = due_messages("p1", Prefs("Asia/Shanghai", "zh"), [BP], [MET], "hypertension",
                        at(SH, 9, 7), at(SH, 9, 8, 30))  # fmt: skip
    assert [m.body for m in msgs] == ["该测量血压了（07:30）。",
                                      "请按时服用Metformin，500 mg（08:00）。服药后请回复“已服”。"]  # fmt: skip


def test_quiet_hours_suppress_a_message_and_a_narrower_window_lets_it_through() -> None:
    window = (at(SH, 9, 22), at(SH, 9, 23))
    assert sent(Prefs("Asia/Shanghai", "en"), *window) == []  # 22:30 dose, quiet 22:00-07:00
    late = Prefs("Asia/Shanghai", "en", quiet_start=time(23), quiet_end=time(6))
    assert sent(late, *window) == [("medication_reminder", "metformin", "09 14:30")]


def test_an_opted_out_patient_gets_nothing() -> None:
    assert sent(Prefs("Asia/Shanghai", "en", opt_out=True), at(SH, 9, 0), at(SH, 9, 21)) == []


@pytest.mark.parametrize(
    ("local", "expected"),
    [(time(21, 59), False), (time(22), True), (time(3), True), (time(6, 59), True),
     (time(7), False), (time(12), False)],
)  # fmt: skip
def test_quiet_hours_wrap_midnight(local: time, expected: bool) -> None:
    assert quiet(local, time(22), time(7)) is expected


def test_overlapping_ticks_and_restarts_produce_the_same_ids_once() -> None:
    prefs = Prefs("Asia/Shanghai", "en")
    ticks = [due_messages("p1", prefs, [BP], [MET], "general", at(SH, 9, 7, m) - timedelta(hours=1),
                          at(SH, 9, 7, m)) for m in range(0, 60, 1)]  # fmt: skip
    ids = [m.id for tick in ticks for m in tick]
    assert len(set(ids)) == 1 and len(ids) == 30  # the 07:30 reminder, in 30 overlapping ticks


def test_weekly_advice_on_wednesday_morning_rotates_topics() -> None:
    prefs = Prefs("Asia/Shanghai", "en")
    weeks = [due_messages("p1", prefs, [], [], "hypertension", at(SH, d, 9), at(SH, d, 11))
             for d in (11, 18, 25)]  # Wednesdays  # fmt: skip
    assert [len(w) for w in weeks] == [1, 1, 1]
    assert len({w[0].ref_key for w in weeks}) == 3
    assert any("5 g" in w[0].body for w in weeks) or any("150" in w[0].body for w in weeks)


DAILY = PlanItem("weight", ("weight",), Frequency.DAILY, (time(7),),
                 valid_from=at(SH, 1, 0))  # fmt: skip


@pytest.mark.parametrize(
    ("now", "expected"),
    [(at(SH, 6, 12), []),  # Mar 5's slot met; Mar 6 still open
     (at(SH, 7, 0, 30), [False]),  # Mar 6 closed empty: tier-1 reminder
     (at(SH, 8, 7, 59), [False]),  # 2 d 23 h 59 min since the last reading
     (at(SH, 8, 8, 0), [True])],  # 3 days: the nurse
)  # fmt: skip
def test_stopped_measuring_reminds_then_goes_to_the_nurse(
    now: datetime, expected: list[bool]
) -> None:
    last = {"weight": at(SH, 5, 8).timestamp()}
    found = check([DAILY], last, "Asia/Shanghai", now)
    assert [s.nurse for s in found] == expected
    assert all(s == Stopped("weight", "weight", last["weight"], s.nurse) for s in found)


def test_a_patient_who_never_measured_counts_from_the_plan_start() -> None:
    found = check([DAILY], {}, "Asia/Shanghai", at(SH, 2, 0, 30))
    assert found == [Stopped("weight", "weight", at(SH, 1, 0).timestamp(), False)]


def test_a_new_item_has_nothing_missed_yet() -> None:
    fresh = PlanItem("weight", ("weight",), Frequency.DAILY, valid_from=at(SH, 9, 10))
    assert check([fresh], {}, "Asia/Shanghai", at(SH, 9, 23)) == []
