"""Tier-1 messages to the patient: re-measure prompts, reminders and advice, in English and
Chinese (DESIGN 5). Pure: a template table and `render`; no I/O, no clock.

Not every rule has a value the patient measured. A rule that fires on the absence of readings
(`device.silent`, the care program's `program.stopped_measuring`) must never ask the patient to
"measure again" a value that does not exist: its alerts render the "we have not received your
readings since ..." reminder, and "we have your readings again" when they resume. A NEWS2 rule's
value is a score, not a reading: its prompt asks for the vital signs again, without the score.
`RULE_KINDS` says which rules are which (by rule id, or id prefix ending in a dot).

Glucose speaks the patient's unit (alerts.glucose_units): every glucose value and threshold in
a message, the low-glucose advice's "below 70 mg/dL" included, is written in the unit the
patient reads (their meter's, or their language's), mmol/L with one decimal or mg/dL as a whole
number, and a message never mixes the two.

Messages say what to do, never diagnose, and always give the way out: a patient who feels unwell
is told to call their care team or the emergency number, whatever the reading. The outbox stores
the rendered text, so a template change never rewrites a message already sent.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import date
from types import MappingProxyType

from alerts.glucose_units import LEVEL1_LOW_MG_DL, MG_DL, patient_unit, shown


class Template(enum.StrEnum):
    REMEASURE = "remeasure"
    REMINDER = "reminder"
    ADVICE = "advice"
    STOPPED = "stopped"  # no readings since a date (absence rules)
    RESUMED = "resumed"  # readings again after an absence
    SCORE_REMEASURE = "score_remeasure"  # a NEWS2 score: measure the vital signs again
    GLUCOSE_LOW = "glucose_low"  # a predicted or level-1 low (alerts.routing): check, treat


class RuleKind(enum.StrEnum):
    VALUE = "value"  # fires on a measured value (the default)
    ABSENCE = "absence"  # fires on readings that did not arrive
    SCORE = "score"  # fires on a score computed from several readings


RULE_KINDS: Mapping[str, RuleKind] = MappingProxyType({
    "device.silent": RuleKind.ABSENCE,
    "program.stopped_measuring": RuleKind.ABSENCE,
    "news2.": RuleKind.SCORE,
})  # fmt: skip

# What an alert's template becomes for a rule without a measured value.
_FOR_KIND: Mapping[tuple[RuleKind, Template], Template] = MappingProxyType({
    (RuleKind.ABSENCE, Template.REMEASURE): Template.STOPPED,
    (RuleKind.ABSENCE, Template.REMINDER): Template.STOPPED,
    (RuleKind.ABSENCE, Template.ADVICE): Template.RESUMED,
    (RuleKind.SCORE, Template.REMEASURE): Template.SCORE_REMEASURE,
    (RuleKind.SCORE, Template.REMINDER): Template.SCORE_REMEASURE,
})  # fmt: skip

_LAST_READING = {"en": "your last reading", "zh": "上次测量"}
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")  # fmt: skip


LANGS = ("en", "zh")

_UNWELL = {
    "en": "If you feel unwell, call your care team, or the emergency number if it is urgent.",
    "zh": "如感到不适，请联系您的护理团队；如情况紧急，请拨打急救电话。",
}

TEMPLATES: Mapping[tuple[Template, str], str] = MappingProxyType({
    (Template.REMEASURE, "en"):
        "Your {metric} reading was {value} {unit}. Please rest for 5 minutes and measure again.",
    (Template.REMEASURE, "zh"):
        "您的{metric}读数为 {value} {unit}。请休息 5 分钟后再测量一次。",
    (Template.REMINDER, "en"):
        "Reminder: we are still waiting for your repeat {metric} measurement.",
    (Template.REMINDER, "zh"):
        "提醒：我们仍在等待您再次测量{metric}。",
    (Template.ADVICE, "en"):
        "Your repeat {metric} reading is back in range. Keep taking your medicines as prescribed.",
    (Template.ADVICE, "zh"):
        "您再次测量的{metric}已恢复正常范围。请继续按医嘱服药。",
    (Template.STOPPED, "en"):
        "We have not received your {metric} readings since {since}. Please measure as planned, "
        "or tell your care team if something is stopping you.",
    (Template.STOPPED, "zh"):
        "自{since}以来，我们没有收到您的{metric}测量数据。请按计划测量；如有困难，请告诉您的护理团队。",
    (Template.RESUMED, "en"):
        "Thank you: we are receiving your {metric} readings again.",
    (Template.RESUMED, "zh"):
        "谢谢：我们已重新收到您的{metric}测量数据。",
    (Template.SCORE_REMEASURE, "en"):
        "Some of your recent readings are outside your usual range. Please rest for 5 minutes "
        "and measure your vital signs again.",
    (Template.SCORE_REMEASURE, "zh"):
        "您最近的部分读数超出了平常范围。请休息 5 分钟后重新测量各项生命体征。",
    # ADA Standards of Care 2024, section 6: 15 g of fast carbohydrate, re-check in 15 minutes.
    (Template.GLUCOSE_LOW, "en"):
        "Your glucose is low or falling (last reading {value} {unit}). Check it now with your "
        "meter. If it is below {low} {glucose_unit}, or you feel shaky, sweaty or confused, "
        "take 15 g of fast-acting carbohydrate (4 glucose tablets, or half a glass (150 ml) of "
        "fruit juice or a regular, non-diet soft drink), rest, and check again in 15 minutes. "
        "If it is still below {low}, take another 15 g and check again. Once it is back above "
        "{low}, eat a snack or your next meal. Do not drive until it is back above {low}.",
    (Template.GLUCOSE_LOW, "zh"):
        "您的血糖偏低或正在下降（最近读数 {value} {unit}）。请立即用血糖仪测一次。"
        "如低于 {low} {glucose_unit}，或感到发抖、出汗、意识模糊，"
        "请摄入 15 克快速吸收的碳水化合物"
        "（4 片葡萄糖片，或半杯（150 毫升）果汁或含糖（非无糖）饮料），"
        "休息，15 分钟后再测。如仍低于 {low}，再摄入 15 克并再测。"
        "血糖回升到 {low} 以上后，请吃点心或按时进餐。血糖回到 {low} 以上之前请勿驾车。",
})  # fmt: skip

METRIC_NAMES: Mapping[tuple[str, str], str] = MappingProxyType({
    ("systolic_bp", "en"): "blood pressure", ("systolic_bp", "zh"): "血压",
    ("diastolic_bp", "en"): "blood pressure", ("diastolic_bp", "zh"): "血压",
    ("glucose", "en"): "blood glucose", ("glucose", "zh"): "血糖",
    ("spo2", "en"): "oxygen saturation", ("spo2", "zh"): "血氧饱和度",
    ("heart_rate", "en"): "heart rate", ("heart_rate", "zh"): "心率",
    ("respiratory_rate", "en"): "breathing rate", ("respiratory_rate", "zh"): "呼吸频率",
    ("body_temperature", "en"): "temperature", ("body_temperature", "zh"): "体温",
    ("weight", "en"): "weight", ("weight", "zh"): "体重",
    ("", "en"): "device", ("", "zh"): "设备",  # a device-level alert names no metric
})  # fmt: skip


def rule_kind(rule_id: str) -> RuleKind:
    found = RULE_KINDS.get(rule_id)
    if found is None and "." in rule_id:
        found = RULE_KINDS.get(rule_id.split(".", 1)[0] + ".")
    return found or RuleKind.VALUE


def for_rule(template: Template, rule_id: str) -> Template:
    """The template an alert of `rule_id` actually sends in place of `template`."""
    return _FOR_KIND.get((rule_kind(rule_id), template), template)


def format_date(day: date, lang: str) -> str:
    if lang == "zh":
        return f"{day.year}年{day.month}月{day.day}日"
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def render(
    template: Template,
    lang: str,
    *,
    metric: str,
    value: float,
    unit: str,
    rule_id: str = "",
    since: date | None = None,
    glucose_unit: str | None = None,
) -> str:
    """The message text in `lang` (English when the patient's language has no template).
    `rule_id` picks the wording for rules without a measured value (absence, score);
    `since` is the local date of the last reading, for the absence reminder; `glucose_unit` is
    the patient's (alerts.glucose_units.patient_unit; by default their language's)."""
    lang = lang if lang in LANGS else "en"
    template = for_rule(template, rule_id)
    name = METRIC_NAMES.get((metric, lang), metric)
    when = format_date(since, lang) if since else _LAST_READING[lang]
    glucose_unit = patient_unit(lang, chosen=glucose_unit)
    number, unit = shown(value, unit, glucose_unit) if metric == "glucose" else (f"{value:g}", unit)
    low, low_unit = shown(LEVEL1_LOW_MG_DL, MG_DL, glucose_unit)  # the advice's threshold
    text = TEMPLATES[(template, lang)].format(metric=name, value=number, unit=unit, since=when,
                                              low=low, glucose_unit=low_unit)  # fmt: skip
    return f"{text} {_UNWELL[lang]}"
