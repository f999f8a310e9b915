"""Tier-1 texts for rules without a measured value (issue 11 part 3): a silent device or a
patient who stopped measuring gets "we have not received your ... readings since <date>", never
a re-measure prompt quoting a value that does not exist, in every language and for every
template an alert can send; NEWS2 prompts never quote the score as a reading."""

from __future__ import annotations

from datetime import date

import pytest

from alerts.messages import LANGS, RuleKind, Template, render, rule_kind
from stream.rules import DEFAULT_RULES

RULES = DEFAULT_RULES
ALL_RULES = [r.id for g in (RULES.thresholds, RULES.trends, RULES.forecasts, RULES.anomalies,
             RULES.news2, RULES.silence) for r in g] + ["program.stopped_measuring"]  # fmt: skip
NON_VALUE = [r for r in ALL_RULES if rule_kind(r) is not RuleKind.VALUE]
ALERT_TEMPLATES = (Template.REMEASURE, Template.REMINDER, Template.ADVICE)


def test_the_non_value_rules_are_known() -> None:
    assert {"device.silent", "program.stopped_measuring"} <= set(NON_VALUE)
    assert {r.id for r in RULES.news2} <= set(NON_VALUE)


@pytest.mark.parametrize("rule_id", NON_VALUE)
@pytest.mark.parametrize("template", ALERT_TEMPLATES)
@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("metric", ["", "glucose", "news2"])
def test_a_rule_without_a_value_never_quotes_one(
    rule_id: str, template: Template, lang: str, metric: str
) -> None:
    text = render(template, lang, metric=metric, value=129600, unit="s", rule_id=rule_id,
                  since=date(2026, 12, 1))  # fmt: skip
    assert "129600" not in text and " s." not in text
    assert "reading was" not in text and "读数为" not in text
    assert "  " not in text and "{" not in text
    assert "Your  " not in text and "您的。" not in text


@pytest.mark.parametrize("lang", LANGS)
def test_a_silent_device_gets_the_stopped_reminder_with_its_date(lang: str) -> None:
    text = render(Template.REMEASURE, lang, metric="", value=129600, unit="s",
                  rule_id="device.silent", since=date(2026, 12, 1))  # fmt: skip
    expected = {"en": "We have not received your device readings since 1 December 2026.",
                "zh": "自2026年12月1日以来，我们没有收到您的设备测量数据。"}  # fmt: skip
    assert text.startswith(expected[lang])


@pytest.mark.parametrize("lang", LANGS)
def test_stopped_measuring_names_the_plan_metric(lang: str) -> None:
    text = render(Template.REMEASURE, lang, metric="weight", value=3, unit="d",
                  rule_id="program.stopped_measuring", since=date(2026, 3, 9))  # fmt: skip
    assert ("weight readings since 9 March 2026" in text) or ("体重测量数据" in text)


@pytest.mark.parametrize("rule_id", [r for r in ALL_RULES if r not in NON_VALUE])
def test_value_rules_keep_their_re_measure_prompt(rule_id: str) -> None:
    text = render(Template.REMEASURE, "en", metric="systolic_bp", value=162, unit="mm[Hg]",
                  rule_id=rule_id)  # fmt: skip
    assert text.startswith("Your blood pressure reading was 162 mm[Hg].")
