"""Risk tags and tiers (program.risk) on explicit figures: each tag's rule at and around its
threshold, the data each rule needs, the tier mapping, and what counts as a rise to high."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from program.risk import RULES, Tag, Tier, assess, is_rise_to_high, tags_for, tier_for
from program.tasks import (
    Completion,
    CompletionError,
    ContactType,
    TaskOutcome,
    follow_up_dues,
)

CGM_OK = 0.7 * 14 * 288  # 2822.4: 70 % of 14 days of 5-minute CGM


@pytest.mark.parametrize(
    ("figures", "tagged"),
    [
        # ESH: home mean >= 135/85 over 7 days, at least 6 readings
        ({"sys_mean_7d": 135.0, "dia_mean_7d": 80.0, "bp_n_7d": 6}, True),
        ({"sys_mean_7d": 134.9, "dia_mean_7d": 84.9, "bp_n_7d": 14}, False),
        ({"sys_mean_7d": 120.0, "dia_mean_7d": 85.0, "bp_n_7d": 14}, True),  # diastolic alone
        ({"sys_mean_7d": 160.0, "dia_mean_7d": 95.0, "bp_n_7d": 5}, False),  # too few readings
        ({"sys_mean_7d": None, "dia_mean_7d": None, "bp_n_7d": 0}, False),
    ],
)
def test_uncontrolled_bp(figures: dict[str, float | None], tagged: bool) -> None:
    assert (Tag.UNCONTROLLED_BP in tags_for(figures)) is tagged


@pytest.mark.parametrize(
    ("tbr", "tir", "n", "tags"),
    [
        (4.0, 70.0, CGM_OK, set()),  # exactly at both targets: not tagged (> 4 %, < 70 %)
        (4.1, 70.0, CGM_OK, {Tag.GLUCOSE_BELOW_RANGE}),
        (1.0, 69.9, CGM_OK, {Tag.GLUCOSE_LOW_TIME_IN_RANGE}),
        (6.0, 50.0, CGM_OK, {Tag.GLUCOSE_BELOW_RANGE, Tag.GLUCOSE_LOW_TIME_IN_RANGE}),
        (6.0, 50.0, 2822, set()),  # under 70 % CGM data: TIR figures do not mean anything
    ],
)
def test_time_in_range(tbr: float, tir: float, n: float, tags: set[Tag]) -> None:
    found = set(tags_for({"tbr_pct_14d": tbr, "tir_pct_14d": tir, "glucose_n_14d": n}))
    assert found & {Tag.GLUCOSE_BELOW_RANGE, Tag.GLUCOSE_LOW_TIME_IN_RANGE} == tags


@pytest.mark.parametrize(
    ("figure", "value", "extra", "tag", "tagged"),
    [
        ("glucose_min_30d", 53.9, {}, Tag.LEVEL2_HYPO, True),
        ("glucose_min_30d", 54.0, {}, Tag.LEVEL2_HYPO, False),
        ("weight_gain_3d_kg", 2.1, {"heart_failure": 1}, Tag.HF_WEIGHT_GAIN, True),
        ("weight_gain_3d_kg", 2.0, {"heart_failure": 1}, Tag.HF_WEIGHT_GAIN, False),
        ("weight_gain_3d_kg", 3.0, {"heart_failure": 0}, Tag.HF_WEIGHT_GAIN, False),
        ("news2_max_24h", 5, {}, Tag.NEWS2_HIGH, True),
        ("news2_max_24h", 4, {}, Tag.NEWS2_HIGH, False),
        ("beyond_grace_days", 0.0, {"expected_daily": 1}, Tag.NOT_MEASURING, True),
        ("beyond_grace_days", -0.1, {"expected_daily": 1}, Tag.NOT_MEASURING, False),
        ("beyond_grace_days", 9.0, {"expected_daily": 0}, Tag.NOT_MEASURING, False),
        ("open_high_alerts", 1, {}, Tag.OPEN_HIGH_ALERT, True),
        ("open_high_alerts", 0, {}, Tag.OPEN_HIGH_ALERT, False),
        ("referred_30d", 1, {}, Tag.RECENT_HOSPITALISATION, True),
        ("referred_30d", 0, {}, Tag.RECENT_HOSPITALISATION, False),
    ],
)
def test_each_rule_at_its_threshold(
    figure: str, value: float, extra: dict[str, float], tag: Tag, tagged: bool
) -> None:
    assert (tag in tags_for({figure: value, **extra})) is tagged


@pytest.mark.parametrize(
    ("tags", "tier"),
    [
        ((), Tier.LOW),
        ((Tag.UNCONTROLLED_BP,), Tier.MEDIUM),
        ((Tag.NOT_MEASURING, Tag.GLUCOSE_BELOW_RANGE), Tier.MEDIUM),
        ((Tag.UNCONTROLLED_BP, Tag.NEWS2_HIGH), Tier.HIGH),
        ((Tag.LEVEL2_HYPO,), Tier.HIGH),
    ],
)
def test_tier_is_the_highest_tag_tier(tags: tuple[Tag, ...], tier: Tier) -> None:
    assert tier_for(tags) is tier


def test_every_rule_cites_a_source_and_every_tag_has_one_rule() -> None:
    assert sorted(r.tag for r in RULES) == sorted(Tag)
    assert all(r.source and r.title for r in RULES)


def test_no_data_is_low_risk_with_no_tags() -> None:
    assert assess({}).tier is Tier.LOW and assess({}).tags == ()


@pytest.mark.parametrize(
    ("before", "after", "rise"),
    [(None, Tier.HIGH, True), (Tier.MEDIUM, Tier.HIGH, True), (Tier.HIGH, Tier.HIGH, False),
     (Tier.HIGH, Tier.MEDIUM, False), (None, Tier.MEDIUM, False)],
)  # fmt: skip
def test_rise_to_high(before: Tier | None, after: Tier, rise: bool) -> None:
    assert is_rise_to_high(before, after) is rise


def test_follow_up_calls_weekly_for_four_weeks_then_monthly() -> None:
    # Discharged Mon 2026-03-02 (Shanghai, UTC+8): calls at 10:00 local on days 7, 14, 21, 28,
    # then every 30 days; at 2026-03-20 the first two have passed.
    dues = follow_up_dues(date(2026, 3, 2), "Asia/Shanghai", datetime(2026, 3, 20, tzinfo=UTC))
    assert dues[0] == datetime(2026, 3, 23, 2, 0, tzinfo=UTC)
    assert dues[1] == datetime(2026, 3, 30, 2, 0, tzinfo=UTC)
    assert dues[2] == datetime(2026, 4, 29, 2, 0, tzinfo=UTC)  # day 58 = 28 + 30
    assert len(dues) == 2 + 11


@pytest.mark.parametrize(
    ("outcome", "visit_at", "place", "ok"),
    [
        (TaskOutcome.VISIT_BOOKED, datetime(2026, 3, 3, 9, tzinfo=UTC), "Clinic 2", True),
        (TaskOutcome.VISIT_BOOKED, None, "Clinic 2", False),
        (TaskOutcome.VISIT_BOOKED, datetime(2026, 3, 3, 9, tzinfo=UTC), " ", False),
        (TaskOutcome.REACHED, datetime(2026, 3, 3, 9, tzinfo=UTC), "Clinic 2", False),
        (TaskOutcome.REACHED, None, None, True),
        (TaskOutcome.CLOSED_WITH_ALERT, None, None, False),
        (TaskOutcome.VISIT_BOOKED, datetime(2026, 3, 3, 9), "Clinic 2", False),  # noqa: DTZ001 (naive)
    ],
)
def test_a_completion_says_what_it_must(
    outcome: TaskOutcome, visit_at: datetime | None, place: str | None, ok: bool
) -> None:
    def make() -> Completion:
        return Completion(outcome, ContactType.PHONE, visit_at=visit_at, visit_place=place)

    if ok:
        assert make().closes_task
    else:
        with pytest.raises(CompletionError):
            make()
