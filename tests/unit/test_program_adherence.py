"""Plan-driven adherence against hand-computed cases (issue 11 parts 3, 8): local days in the
patient's time zone across DST changes, a plan changed mid-window, open slots, and the CMS 99454
16-of-30 rule at the period's edges."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from program.adherence import Counts, billing, data_days, item_counts, per_medication
from program.plans import TEMPLATES, Frequency, PlanItem, template_for
from program.records import Medication

NY = ZoneInfo("America/New_York")
SH = ZoneInfo("Asia/Shanghai")


def local(tz: ZoneInfo, y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=tz)


def ts(*dts: datetime) -> list[float]:
    return sorted(x.timestamp() for x in dts)


def test_local_days_across_the_spring_change_in_new_york() -> None:
    # 2026-03-08 02:00 EST -> 03:00 EDT. A daily fasting glucose, each taken at 00:15 local on
    # Mar 5-10; Mar 4 missed. Read with a fixed EST offset, 00:15 EDT on Mar 9 and 10 would be
    # 23:15 of the day before: Mar 9 empty, 5 received. Hand count: 7 expected, 6 received.
    item = PlanItem("g", ("glucose",), Frequency.DAILY, (time(7),),
                    valid_from=local(NY, 2026, 3, 1))  # fmt: skip
    readings = ts(*(local(NY, 2026, 3, d, 0, 15) for d in range(5, 11)))
    now = local(NY, 2026, 3, 10, 12)
    assert item_counts([item], readings, NY, now, 7) == Counts(7, 6)
    assert data_days(readings, NY) == {date(2026, 3, d) for d in range(5, 11)}


def test_a_continuous_plan_on_the_25_hour_day_in_new_york() -> None:
    # 2026-11-01: 01:00-02:00 happens twice (EDT, then EST): the local day has 25 hourly slots.
    # Readings every 10 min from Nov 1 00:00 to Nov 2 00:20 local, except during the second
    # 01:xx hour (06:00-07:00 UTC). Days Nov 1 and Nov 2 at Nov 2 00:30: 25 + 1 open slot met.
    item = PlanItem("cgm", ("glucose",), Frequency.CONTINUOUS, valid_from=local(NY, 2026, 10, 1))
    start, end = local(NY, 2026, 11, 1), local(NY, 2026, 11, 2, 0, 21)
    gap = (datetime(2026, 11, 1, 6, tzinfo=UTC), datetime(2026, 11, 1, 7, tzinfo=UTC))
    t, readings = start, []
    while t < end:
        if not gap[0] <= t < gap[1]:
            readings.append(t.timestamp())
        t = (t.astimezone(UTC) + timedelta(minutes=10)).astimezone(NY)
    assert item_counts([item], readings, NY, local(NY, 2026, 11, 2, 0, 30), 2) == Counts(26, 25)


def test_a_plan_changed_mid_window_is_judged_by_what_was_asked_at_the_time() -> None:
    # Twice a day (08:00, 20:00) until Mar 18 12:00, then daily at 08:00; readings every
    # morning Mar 14-20. Last 7 days (Mar 14-20) at Mar 20 23:00: v1 expects Mar 14-17 x2 and
    # Mar 18 08:00 = 9 (5 met); v2 expects Mar 19 and 20 = 2 (both met). 11 expected, 7 met.
    change = local(SH, 2026, 3, 18, 12)
    v1 = PlanItem("bp", ("systolic_bp", "diastolic_bp"), Frequency.TIMES_PER_DAY,
                  (time(8), time(20)), valid_from=local(SH, 2026, 3, 1), valid_to=change)  # fmt: skip
    v2 = PlanItem("bp", ("systolic_bp", "diastolic_bp"), Frequency.DAILY, (time(8),),
                  valid_from=change)  # fmt: skip
    readings = ts(*(local(SH, 2026, 3, d, 8, 5) for d in range(14, 21)))
    assert item_counts([v1, v2], readings, SH, local(SH, 2026, 3, 20, 23), 7) == Counts(11, 7)


@pytest.mark.parametrize(
    ("hour", "readings", "expected"),
    [
        (10, [], Counts(0, 0)),  # the morning window (to 13:30) is still open: not missed
        (10, [7], Counts(1, 1)),  # met early: counted at once
        (14, [], Counts(1, 0)),  # the morning window closed empty
        (14, [7, 9], Counts(1, 1)),  # two readings in one window count once
        (21, [7, 19], Counts(2, 2)),  # 19:00 is in the evening window (from 13:30)
    ],
)
def test_open_slots_are_not_missed_yet(hour: int, readings: list[int], expected: Counts) -> None:
    item = PlanItem("bp", ("systolic_bp",), Frequency.TIMES_PER_DAY, (time(7, 30), time(19, 30)),
                    valid_from=local(SH, 2026, 5, 1))  # fmt: skip
    times = ts(*(local(SH, 2026, 5, 10, h) for h in readings))
    assert item_counts([item], times, SH, local(SH, 2026, 5, 10, hour), 1) == expected


def days(first: int, last: int) -> set[date]:
    return {date(2026, 1, d) for d in range(first, last + 1)}


@pytest.mark.parametrize(
    ("data", "today", "so_far", "left", "met", "reachable"),
    [
        (days(1, 15), date(2026, 1, 30), 15, 1, False, True),  # one day left, one needed
        (days(1, 14), date(2026, 1, 30), 14, 1, False, False),  # out of reach on the last day
        (days(1, 15) | {date(2026, 1, 30)}, date(2026, 1, 30), 16, 0, True, True),
        (days(1, 16), date(2026, 1, 16), 16, 14, True, True),  # met on day 16
        (days(1, 30), date(2026, 1, 31), 0, 30, False, True),  # a new period starts on day 31
        (days(2, 2), date(2026, 1, 2), 1, 28, False, True),  # Jan 3-30 left
    ],
)
def test_the_16_of_30_rule_at_the_period_edges(
    data: set[date], today: date, so_far: int, left: int, met: bool, reachable: bool
) -> None:
    b = billing(data, today, enrolled_on=date(2026, 1, 1))
    assert (b.days_with_data, b.days_left, b.met, b.reachable) == (so_far, left, met, reachable)


def test_without_an_enrolment_date_the_period_is_the_last_30_days() -> None:
    b = billing(days(1, 31), date(2026, 1, 31), enrolled_on=None)
    assert (b.period_start, b.period_end, b.days_with_data, b.days_left) == (
        date(2026, 1, 2), date(2026, 2, 1), 30, 0)  # fmt: skip


def test_taken_answers_feed_medication_adherence() -> None:
    # Metformin 08:00 and 20:00 from May 8; doses answered on May 8 (both) and May 9 morning;
    # at May 10 09:00, last 7 days: May 8 x2, May 9 x2, May 10 morning still open -> 4 due, 3 taken.
    m = Medication("metformin", "Metformin", "500 mg", (time(8), time(20)),
                   valid_from=local(SH, 2026, 5, 8))  # fmt: skip
    taken = {"metformin": ts(local(SH, 2026, 5, 8, 8), local(SH, 2026, 5, 8, 20),
                             local(SH, 2026, 5, 9, 8))}  # fmt: skip
    seven, _ = per_medication([m], taken, SH, local(SH, 2026, 5, 10, 9))["metformin"]
    assert seven == Counts(4, 3)


@pytest.mark.parametrize(
    ("system", "code", "template"),
    [("icd10", "I10", "hypertension"), ("icd10", "E11.9", "type2_diabetes"),
     ("snomed", "84114007", "heart_failure"), ("icd10", "Z79.4", "insulin_diabetes")],
)  # fmt: skip
def test_a_coded_condition_suggests_its_template(system: str, code: str, template: str) -> None:
    found = template_for(system, code)
    assert found is not None and found.name == template


def test_every_template_has_a_source_and_valid_items() -> None:
    for t in TEMPLATES.values():
        assert t.source and t.items
    assert TEMPLATES["post_discharge"].follow_up is not None
