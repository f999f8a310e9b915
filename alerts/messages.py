"""Tier-1 messages to the patient: re-measure prompts, reminders and advice, in English and
Chinese (DESIGN 5). Pure: a template table and `render`; no I/O, no clock.

Messages say what to do, never diagnose, and always give the way out: a patient who feels unwell
is told to call their care team or the emergency number, whatever the reading. The outbox stores
the rendered text, so a template change never rewrites a message already sent.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType


class Template(enum.StrEnum):
    REMEASURE = "remeasure"
    REMINDER = "reminder"
    ADVICE = "advice"
    GLUCOSE_LOW = "glucose_low"  # a predicted or level-1 low (alerts.routing): check, treat


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
    # ADA Standards of Care 2024, section 6: 15 g of fast carbohydrate, re-check in 15 minutes.
    (Template.GLUCOSE_LOW, "en"):
        "Your glucose is low or falling (last reading {value} {unit}). Check it now with your "
        "meter. If it is below 70 mg/dL (3.9 mmol/L), or you feel shaky, sweaty or confused, "
        "take 15 g of fast-acting carbohydrate (4 glucose tablets, or half a glass (150 ml) of "
        "fruit juice or a regular, non-diet soft drink), rest, and check again in 15 minutes. "
        "If it is still below 70, take another 15 g and check again. Once it is back above 70, "
        "eat a snack or your next meal. Do not drive until it is back above 70.",
    (Template.GLUCOSE_LOW, "zh"):
        "您的血糖偏低或正在下降（最近读数 {value} {unit}）。请立即用血糖仪测一次。"
        "如低于 70 mg/dL（3.9 mmol/L），或感到发抖、出汗、意识模糊，"
        "请摄入 15 克快速吸收的碳水化合物"
        "（4 片葡萄糖片，或半杯（150 毫升）果汁或含糖（非无糖）饮料），"
        "休息，15 分钟后再测。如仍低于 70，再摄入 15 克并再测。"
        "血糖回升到 70 以上后，请吃点心或按时进餐。血糖回到 70 以上之前请勿驾车。",
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
})  # fmt: skip


def render(template: Template, lang: str, *, metric: str, value: float, unit: str) -> str:
    """The message text in `lang` (English when the patient's language has no template)."""
    lang = lang if lang in LANGS else "en"
    name = METRIC_NAMES.get((metric, lang), metric)
    text = TEMPLATES[(template, lang)].format(metric=name, value=f"{value:g}", unit=unit)
    return f"{text} {_UNWELL[lang]}"
