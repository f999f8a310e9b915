# ruff: noqa: E501  (message texts: a sentence per line reads better than a wrapped one)
"""Tier-1 texts of the care program (issue 11 part 4): measurement and medication reminders and
periodic advice per condition, in English and Chinese. Pure: tables and `render_*`; no I/O.

Advice is plain, careful and general: it says what helps and when to call the care team, never
diagnoses, never changes a treatment. Sources: salt < 5 g/day (WHO, Salt reduction fact sheet,
2023); 150 minutes of moderate activity a week (WHO guidelines on physical activity, 2020);
7 or more hours of sleep (AASM/SRS consensus, 2015); heart failure: weigh daily and call on a
gain of more than 2 kg in 3 days (ESC heart failure guidelines 2021); diabetes: regular meals and
carrying fast-acting sugar when on insulin (ADA Standards of Care, sections 5 and 6).

Must not: decide when a message is sent (program.reminders) or touch the outbox.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import time
from types import MappingProxyType

from alerts.messages import METRIC_NAMES

TOPICS = ("diet", "exercise", "sleep", "mental_health")
GROUPS = ("hypertension", "diabetes", "heart_failure", "general")
# plan template -> advice group
GROUP_OF: Mapping[str, str] = MappingProxyType({
    "hypertension": "hypertension", "type2_diabetes": "diabetes", "insulin_diabetes": "diabetes",
    "insulin_cgm": "diabetes", "heart_failure": "heart_failure", "post_discharge": "general",
})  # fmt: skip

_SLEEP = {
    "en": "Try to sleep 7 hours or more at regular times. Tell your care team if you snore loudly "
          "or feel very sleepy during the day.",
    "zh": "尽量每晚睡7小时以上，并保持规律作息。如果打鼾严重或白天总是很困，请告诉您的护理团队。",
}  # fmt: skip
_MIND = {
    "en": "Feeling low or worried is common with a long-term condition. If it lasts most days for "
          "two weeks, tell your care team: help is available.",
    "zh": "患有慢性病时感到情绪低落或焦虑很常见。如果两周内大多数日子都这样，请告诉您的护理团队，我们可以提供帮助。",
}  # fmt: skip
_MOVE = {
    "en": "Aim for at least 150 minutes of moderate activity a week, such as brisk walking, in "
          "sessions that suit you. Stop and rest if you feel chest pain or very short of breath.",
    "zh": "每周至少进行150分钟中等强度活动，例如快走，可分多次完成。如出现胸痛或明显气短，请立即停下休息。",
}  # fmt: skip

ADVICE: Mapping[tuple[str, str], Mapping[str, str]] = MappingProxyType({
    ("hypertension", "diet"): {
        "en": "Keep salt below 5 g a day (about one teaspoon), counting the salt in sauces, pickles "
              "and processed food. Eat plenty of vegetables and fruit.",
        "zh": "每天食盐少于5克（约一平茶匙），包括酱油、咸菜和加工食品中的盐。多吃蔬菜和水果。"},
    ("hypertension", "exercise"): _MOVE,
    ("hypertension", "sleep"): _SLEEP,
    ("hypertension", "mental_health"): _MIND,
    ("diabetes", "diet"): {
        "en": "Choose whole grains, vegetables and lean protein, and limit sugary drinks and sweets. "
              "Keep regular meal times, especially if you take insulin or tablets that can cause lows.",
        "zh": "多选全谷物、蔬菜和优质蛋白，少喝含糖饮料、少吃甜食。按时进餐，尤其是使用胰岛素或可能引起低血糖的药物时。"},
    ("diabetes", "exercise"): {
        "en": "Aim for 150 minutes of moderate activity a week and break up long sitting. If you use "
              "insulin, carry fast-acting sugar and check your glucose if you feel shaky.",
        "zh": "每周进行150分钟中等强度活动，避免久坐。使用胰岛素者请随身携带糖块，感到心慌手抖时请测血糖。"},
    ("diabetes", "sleep"): _SLEEP,
    ("diabetes", "mental_health"): _MIND,
    ("heart_failure", "diet"): {
        "en": "Limit salt and fluids as your care team advised. Weigh yourself every morning; if your "
              "weight goes up by more than 2 kg in 3 days, call your care team.",
        "zh": "请按护理团队的建议限制盐和液体摄入。每天早晨称体重；如3天内体重增加超过2公斤，请联系您的护理团队。"},
    ("heart_failure", "exercise"): {
        "en": "Stay active with light walking as your care team advised. Stop and rest if you get "
              "short of breath, dizzy or have chest pain.",
        "zh": "请按护理团队的建议坚持散步等轻度活动。如出现气短、头晕或胸痛，请停下休息。"},
    ("heart_failure", "sleep"): {
        "en": "If you become breathless lying flat or need more pillows to sleep, tell your care team.",
        "zh": "如果平躺时气短，或需要垫更多枕头才能入睡，请告诉您的护理团队。"},
    ("heart_failure", "mental_health"): _MIND,
    ("general", "diet"): {
        "en": "Eat regular meals with vegetables, fruit and whole grains, and keep salt and sugar low.",
        "zh": "规律进餐，多吃蔬菜、水果和全谷物，少盐少糖。"},
    ("general", "exercise"): _MOVE,
    ("general", "sleep"): _SLEEP,
    ("general", "mental_health"): _MIND,
})  # fmt: skip

_MEASURE = {"en": "Time to measure your {metric} ({at}).", "zh": "该测量{metric}了（{at}）。"}
_DOSE = {
    "en": 'Time to take {name}, {dose} ({at}). Reply "taken" when you have.',
    "zh": "请按时服用{name}，{dose}（{at}）。服药后请回复“已服”。",
}


def _lang(lang: str) -> str:
    return lang if lang in ("en", "zh") else "en"


def render_measure(metric: str, at: time, lang: str) -> str:
    lang = _lang(lang)
    name = METRIC_NAMES.get((metric, lang), metric)
    return _MEASURE[lang].format(metric=name, at=at.strftime("%H:%M"))


def render_dose(name: str, dose: str, at: time, lang: str) -> str:
    return _DOSE[_lang(lang)].format(name=name, dose=dose, at=at.strftime("%H:%M"))


def render_advice(group: str, topic: str, lang: str) -> str:
    return ADVICE[(group if group in GROUPS else "general", topic)][_lang(lang)]
