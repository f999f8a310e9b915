"""The patient summary's figures against hand-computed values on small fixed data: the
consensus glucose ranges at their exact edges, GMI, CV, sensor wear, the modal-day percentiles,
the ESH home-BP means with day 1 discarded, the heart-failure weight rule, meter slots and
the fasting mean, and the alerts' time to acknowledge."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from reports import agp, bp, vitals
from reports._clock import DAY_S, HOUR_S, local_day_and_clock
from reports.summary import AlertRow, tier_responses

UTC_ZONE = ZoneInfo("UTC")
SHANGHAI = ZoneInfo("Asia/Shanghai")
MIDNIGHT = datetime(2026, 11, 2, tzinfo=UTC).timestamp()  # a Monday, 00:00 UTC


@pytest.mark.parametrize(
    ("mg_dl", "expected"),
    [
        (53.9, "very_low"), (54.0, "low"), (69.9, "low"), (70.0, "in_range"), (180.0, "in_range"),
        (180.1, "high"), (181.0, "high"), (250.0, "high"), (250.1, "very_high"), (400.0, "very_high"),
    ],
)  # fmt: skip
def test_each_glucose_value_falls_in_exactly_one_consensus_range(
    mg_dl: float, expected: str
) -> None:
    shares = agp.range_shares(np.array([mg_dl]))
    assert shares == {r.key: (1.0 if r.key == expected else 0.0) for r in agp.RANGES}


def test_range_shares_of_a_mixed_series() -> None:
    v = np.array([50, 54, 69, 70, 180, 181, 250, 251, 100, 120], dtype=float)
    assert agp.range_shares(v) == {"very_low": 0.1, "low": 0.2, "in_range": 0.4, "high": 0.2,
                                   "very_high": 0.1}  # fmt: skip


@pytest.mark.parametrize(("mean", "gmi"), [(100.0, 5.702), (154.0, 6.99368), (183.0, 7.68736)])
def test_gmi_is_the_bergenstal_regression(mean: float, gmi: float) -> None:
    assert agp.gmi_pct(mean) == pytest.approx(gmi)


@pytest.mark.parametrize(
    ("values", "cv"),
    [([100.0, 200.0], 100 * math.sqrt(5000) / 150), ([90.0, 100.0, 110.0], 10.0), ([120.0], None)],
)
def test_cv_uses_the_sample_sd(values: list[float], cv: float | None) -> None:
    got = agp.cv_pct(np.array(values))
    assert got == (None if cv is None else pytest.approx(cv))


@pytest.mark.parametrize(
    ("received", "days", "interval_s", "wear"),
    [(4032, 14, 300, 100.0), (2016, 14, 300, 50.0), (2822, 14, 300, 70.0), (5000, 14, 300, 100.0),
     (1344, 14, 900, 100.0)],
)  # fmt: skip
def test_sensor_wear_is_received_over_expected(received: int, days: int, interval_s: float,
                                               wear: float) -> None:  # fmt: skip
    assert agp.wear_pct(received, days * DAY_S, interval_s) == pytest.approx(wear, abs=0.01)


def test_modal_day_percentiles_per_15_minute_bin() -> None:
    # 11 readings in the 07:00-07:15 bin (100..110) and 4 in the 12:00 bin (too few: blank)
    clock = np.concatenate([7 * HOUR_S + np.arange(11) * 60.0, 12 * HOUR_S + np.arange(4) * 60.0])
    v = np.concatenate([np.arange(100.0, 111.0), np.full(4, 150.0)])
    m = agp.modal_day(clock, v)
    assert m.values.shape == (5, 96)
    assert m.values[:, 28].tolist() == pytest.approx([100.5, 102.5, 105.0, 107.5, 109.5])
    assert np.isnan(m.values[:, 48]).all()
    assert np.isnan(m.values[:, 0]).all()


def test_the_agp_bins_are_the_patients_local_time() -> None:
    # 23:00 UTC is 07:00 in Shanghai: the readings land in the 07:00 bin (28)
    t = MIDNIGHT + 23 * HOUR_S + np.arange(0, 14 * DAY_S, DAY_S)
    a = agp.agp(t, np.full(t.size, 120.0), SHANGHAI, 14 * DAY_S, 300.0, int(t[-1] // DAY_S) + 1)
    assert a is not None
    assert not np.isnan(a.modal_day.values[2, 28])
    assert np.isnan(a.modal_day.values[2, 92])  # 23:00 local: nothing
    assert len(a.daily) == agp.DAILY_PROFILE_DAYS
    assert [p.mg_dl.size for p in a.daily] == [1] * 14


def test_agp_summary_of_a_fixed_series() -> None:
    t = MIDNIGHT + np.arange(0, 14 * DAY_S, 300.0)
    v = np.tile([50.0, 60.0, 100.0, 200.0, 300.0], t.size // 5 + 1)[: t.size]
    a = agp.agp(t, v, UTC_ZONE, 14 * DAY_S, 300.0, int(t[-1] // DAY_S))
    assert a is not None
    assert a.n == 4032
    assert a.wear_pct == 100.0
    assert a.mean_mg_dl == pytest.approx(v.mean())
    assert a.gmi_pct == pytest.approx(3.31 + 0.02392 * v.mean())
    assert a.shares["in_range"] == pytest.approx(0.2, abs=0.001)


def test_meter_slots_and_the_tagged_fasting_mean() -> None:
    hours = np.array([7.0, 7.5, 12.0, 19.0, 23.0])
    t = MIDNIGHT + hours * HOUR_S
    v = np.array([100.0, 120.0, 180.0, 150.0, 130.0])
    tagged = np.array([True, False, False, False, False])
    m = agp.meter(t, v, tagged, UTC_ZONE)
    assert m is not None
    slots = {s.key: s.stats for s in m.slots}
    assert (slots["morning"].n, slots["morning"].mean) == (2, 110.0)
    assert (slots["midday"].n, slots["evening"].n, slots["late"].n, slots["night"].n) == (
        1,
        1,
        1,
        0,
    )
    assert (m.fasting.n, m.fasting.mean, m.fasting_assumed) == (1, 100.0, False)


def test_without_tags_the_first_morning_reading_of_each_day_is_taken_as_fasting() -> None:
    hours = np.array([3.0, 6.0, 8.5, 12.0, 24 + 5.0, 24 + 9.5])  # day 2's 09:30 is too late
    t = MIDNIGHT + hours * HOUR_S
    v = np.array([90.0, 100.0, 140.0, 200.0, 110.0, 300.0])
    m = agp.meter(t, v, np.zeros(6, dtype=bool), UTC_ZONE)
    assert m is not None
    assert (m.fasting.n, m.fasting.mean, m.fasting_assumed) == (2, 105.0, True)


def _bp_days(days: int, tz_offset_h: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each day: 07:00 140/90 and 19:00 130/80 (local), day 1 at 160/100 (the alerting day)."""
    t, s, d = [], [], []
    for day in range(days):
        first = day == 0
        for hour, sys_, dia in ((7, 140.0, 90.0), (19, 130.0, 80.0)):
            t.append(MIDNIGHT + day * DAY_S + (hour - tz_offset_h) * HOUR_S)
            s.append(160.0 if first else sys_)
            d.append(100.0 if first else dia)
    return np.array(t), np.array(s), np.array(d)


@pytest.mark.parametrize(("zone", "offset_h"), [(UTC_ZONE, 0.0), (SHANGHAI, 8.0)])
def test_esh_means_discard_day_one(zone: ZoneInfo, offset_h: float) -> None:
    h = bp.home_bp(*_bp_days(7, offset_h), zone)
    assert h is not None
    assert (h.n, h.discarded, h.days) == (14, 2, 7)
    assert (h.morning.n, h.morning.systolic, h.morning.diastolic) == (6, 140.0, 90.0)
    assert (h.evening.n, h.evening.systolic, h.evening.diastolic) == (6, 130.0, 80.0)
    assert (h.home.systolic, h.home.diastolic) == (135.0, 85.0)
    assert h.in_target_pct == pytest.approx(50.0)


def test_a_single_day_of_bp_is_kept() -> None:
    h = bp.home_bp(*_bp_days(1), UTC_ZONE)
    assert h is not None
    assert (h.discarded, h.home.systolic, h.in_target_pct) == (0, 160.0, 0.0)


@pytest.mark.parametrize(
    ("sys_", "dia", "in_target"),
    [(134.0, 84.0, True), (135.0, 84.0, False), (134.0, 85.0, False), (120.0, 70.0, True)],
)
def test_in_target_is_strictly_below_135_over_85(sys_: float, dia: float, in_target: bool) -> None:
    h = bp.home_bp(np.array([MIDNIGHT + 8 * HOUR_S]), np.array([sys_]), np.array([dia]), UTC_ZONE)
    assert h is not None
    assert h.in_target_pct == (100.0 if in_target else 0.0)


@pytest.mark.parametrize(
    ("kg", "rule_days"),
    [
        ([80.0, 80.5, 82.0], (2,)),  # +2.0 within 3 days: the rule holds (>=)
        ([80.0, 80.5, 81.9], ()),  # +1.9: not
        ([80.0, 79.0, 80.5, 81.0, 81.1], (3, 4)),  # from the 79.0 of day 1: +2.0, +2.1
        # day 0 is exactly 3 days before day 3 (inside its window), outside day 4's
        ([78.0, 80.0, 80.0, 80.0, 80.0], (1, 2, 3)),
    ],
)
def test_weight_uses_the_streams_heart_failure_rule(
    kg: list[float], rule_days: tuple[int, ...]
) -> None:
    t = MIDNIGHT + 8 * HOUR_S + np.arange(len(kg)) * DAY_S
    w = vitals.weight(t, np.array(kg), UTC_ZONE)
    assert w is not None
    first_day = int(local_day_and_clock(t[:1], UTC_ZONE)[0][0])
    assert tuple(d - first_day for d in w.rule_days) == rule_days
    assert (w.gain_kg, w.span_days) == (2.0, 3.0)
    assert w.change_kg == pytest.approx(kg[-1] - kg[0])


def test_spo2_shares_at_the_streams_limits() -> None:
    s = vitals.spo2(np.array([87.0, 88.0, 90.0, 94.0, 95.0, 97.0, 98.0, 99.0]))
    assert s is not None
    assert (s.severe_limit, s.review_limit) == (88.0, 94.0)
    assert s.at_or_below_severe_pct == pytest.approx(25.0)
    assert s.at_or_below_review_pct == pytest.approx(50.0)


def _alert(tier: int, ack_min: float | None) -> AlertRow:
    opened = datetime(2026, 11, 2, 8, tzinfo=UTC)
    acked = None if ack_min is None else opened + timedelta(minutes=ack_min)
    return AlertRow(opened, "bp.crisis", "t", "high", tier, "acknowledged", None, acked, None)


def test_time_to_acknowledge_per_tier() -> None:
    rows = (_alert(2, 10), _alert(2, 30), _alert(2, 20), _alert(2, None), _alert(3, 5))
    by_tier = {r.tier: r for r in tier_responses(rows)}
    assert (by_tier[2].alerts, by_tier[2].acknowledged) == (4, 3)
    assert (by_tier[2].median_ack_s, by_tier[2].max_ack_s) == (1200.0, 1800.0)
    assert (by_tier[3].alerts, by_tier[3].median_ack_s) == (1, 300.0)
