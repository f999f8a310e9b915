"""The chart arithmetic (api.workspace.chart_core): the bucket width keeps any window within the
point cap however buckets align, each bucket gives its minimum and maximum in time order, and
the thresholds drawn are the rule table's with the patient's latest override applied."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.workspace import chart_core as core

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


@given(
    span_s=st.integers(min_value=1, max_value=366 * 86400),
    offset_s=st.floats(min_value=0, max_value=10**6, allow_nan=False),
)
def test_no_window_meets_more_buckets_than_the_cap_allows(span_s: int, offset_s: float) -> None:
    since = T0 + timedelta(seconds=offset_s)
    until = since + timedelta(seconds=span_s)
    width = core.bucket_width_s(since, until)
    first = math.floor(since.timestamp() / width)
    last = math.floor((until.timestamp() - 1e-6) / width)
    assert last - first + 1 <= core.MAX_BUCKETS
    assert 2 * core.MAX_BUCKETS <= core.MAX_POINTS


@pytest.mark.parametrize(
    ("range_key", "width_s"),
    [("24h", 87), ("7d", 606), ("30d", 2595), ("90d", 7784)],
)
def test_named_ranges_bucket_widths(range_key: str, width_s: int) -> None:
    since, until = core.window(range_key, T0)
    assert (until, core.bucket_width_s(since, until)) == (T0, width_s)


def test_each_bucket_gives_its_extremes_in_time_order() -> None:
    rows = [
        core.BucketRow(n=5, lo=62.0, lo_t=300.0, hi=140.0, hi_t=100.0),  # max came first
        core.BucketRow(n=1, lo=90.0, lo_t=500.0, hi=90.0, hi_t=500.0),  # one reading
        core.BucketRow(n=2, lo=80.0, lo_t=700.0, hi=95.0, hi_t=800.0),
    ]
    assert core.points(rows) == (
        [100.0, 300.0, 500.0, 700.0, 800.0],
        [140.0, 62.0, 90.0, 80.0, 95.0],
        True,
    )
    assert core.points(rows[1:])[2] is False, "nothing left out: every reading is a point"


def test_glucose_is_split_into_a_cgm_trace_and_meter_points() -> None:
    glucose, bp = core.CHARTS["glucose"], core.CHARTS["blood_pressure"]
    assert core.series_key(glucose, "glucose", True) == "cgm"
    assert core.series_key(glucose, "glucose", False) == "meter"
    assert core.series_key(bp, "diastolic_bp", False) == "diastolic_bp"
    assert [(t.metric, t.low, t.high) for t in bp.targets] == [
        ("systolic_bp", None, 135.0), ("diastolic_bp", None, 85.0)]  # fmt: skip
    assert [(t.low, t.high) for t in glucose.targets] == [(70.0, 180.0)]


def test_thresholds_in_effect_apply_the_latest_override() -> None:
    overrides = [
        {"rule_id": "glucose.level1_low", "version": 1, "params": {"thresholds": [72.0]}},
        {"rule_id": "glucose.level1_low", "version": 2, "params": {"thresholds": [75.0]}},
    ]
    lines = core.thresholds_in_effect(core.CHARTS["glucose"], "p1", overrides)
    by_rule = {line.rule_id: line for line in lines}
    assert (by_rule["glucose.level1_low"].value, by_rule["glucose.level1_low"].version) == (
        75.0, "v2")  # fmt: skip
    assert by_rule["glucose.level1_low"].device_kinds == ("cgm",)
    assert (by_rule["glucose.level2_low"].value, by_rule["glucose.level2_low"].dangerous) == (
        54.0, True)  # fmt: skip
    assert all(line.metric == "glucose" for line in lines)
    other = core.thresholds_in_effect(core.CHARTS["glucose"], "p2", [])
    assert {line.version for line in other} == {"default"}


@pytest.mark.parametrize(
    ("opened_h", "seen_h", "resolved_h", "now_h", "until_h"),
    [
        (-10, -9, None, 0, -3),  # 6 h after the last reading
        (-2, -1, None, 0, 0),  # never past now
        (-30, -29, -20, 0, -14),  # 6 h after the resolution
    ],
)
def test_a_window_around_an_alert(
    opened_h: int, seen_h: int, resolved_h: int | None, now_h: int, until_h: int
) -> None:
    h = timedelta(hours=1)
    since, until = core.alert_window(T0 + opened_h * h, T0 + seen_h * h,
                                     None if resolved_h is None else T0 + resolved_h * h,
                                     T0 + now_h * h)  # fmt: skip
    assert (since, until) == (T0 + (opened_h - 6) * h, T0 + until_h * h)
