"""Tier-1 messages speak the patient's glucose unit (alerts.glucose_units, alerts.messages): a
patient whose meter shows 3.6 mmol/L reads "3.6 mmol/L" and "below 3.9", never "below 70", in
English and Chinese, for every template a glucose alert can send; no message mixes the units."""

from __future__ import annotations

import pytest

from alerts.glucose_units import MG_DL, MMOL_L, patient_unit, shown
from alerts.messages import LANGS, Template, render
from ingest.contract.units import MG_DL_PER_MMOL_L

METER_3_6 = 3.6 * MG_DL_PER_MMOL_L  # a meter showing 3.6 mmol/L, as the ingest stores it
LOW = {MG_DL: "70", MMOL_L: "3.9"}  # level-1 hypoglycaemia (ADA): the advice's threshold
OTHER = {MG_DL: MMOL_L, MMOL_L: MG_DL}


@pytest.mark.parametrize(
    ("lang", "device_unit", "chosen", "unit"),
    [
        ("zh", None, None, MMOL_L),  # no glucose device yet: the language's unit
        ("en", None, None, MG_DL),
        ("fr", None, None, MG_DL),  # a language without a default
        ("en", MMOL_L, None, MMOL_L),  # the patient's own meter wins over the language
        ("zh", MG_DL, None, MG_DL),  # an imported mg/dL CGM in a Chinese clinic
        ("zh", MG_DL, MMOL_L, MMOL_L),  # a clinician's choice wins over the device
        ("en", None, MMOL_L, MMOL_L),
        ("zh", "mmol/l", None, MMOL_L),  # not a glucose unit the contract knows: ignored
        ("en", MMOL_L, "", MMOL_L),  # no choice stored
    ],
)
def test_the_patients_glucose_unit(
    lang: str, device_unit: str | None, chosen: str | None, unit: str
) -> None:
    assert patient_unit(lang, device_unit, chosen) == unit


@pytest.mark.parametrize(
    ("value", "unit", "glucose_unit", "expected"),
    [
        (70.0, MG_DL, MMOL_L, ("3.9", MMOL_L)),  # level 1 (DESIGN 10)
        (54.0, MG_DL, MMOL_L, ("3.0", MMOL_L)),  # level 2
        (250.0, MG_DL, MMOL_L, ("13.9", MMOL_L)),  # hyperglycaemia
        (301.0, MG_DL, MMOL_L, ("16.7", MMOL_L)),  # China's emergency level
        (METER_3_6, MG_DL, MMOL_L, ("3.6", MMOL_L)),  # the meter's own figure comes back
        (68.4, MG_DL, MG_DL, ("68", MG_DL)),  # mg/dL as a whole number
        (METER_3_6, MG_DL, MG_DL, ("65", MG_DL)),
        (-3.0, "mg/dL/min", MMOL_L, ("-0.17", "mmol/L/min")),  # a CGM rate
        (-3.0, "mg/dL/min", MG_DL, ("-3.0", "mg/dL/min")),
        (162.0, "mm[Hg]", MMOL_L, ("162", "mm[Hg]")),  # not glucose: as it is
    ],
)
def test_values_are_written_in_the_patients_unit(
    value: float, unit: str, glucose_unit: str, expected: tuple[str, str]
) -> None:
    assert shown(value, unit, glucose_unit) == expected


def test_every_figure_a_mmol_meter_shows_comes_back_unchanged() -> None:
    tenths = range(11, 334)  # 1.1 to 33.3 mmol/L, the range of home meters
    back = [shown(t / 10 * MG_DL_PER_MMOL_L, MG_DL, MMOL_L)[0] for t in tenths]
    assert back == [f"{t / 10:.1f}" for t in tenths]


# rule, template, canonical value (mg/dL) -> the value as the patient reads it, per unit
SCENARIOS = [
    ("glucose.level1_low_meter", Template.GLUCOSE_LOW, METER_3_6, {MG_DL: "65", MMOL_L: "3.6"}),
    ("glucose.level1_low", Template.GLUCOSE_LOW, 61.0, {MG_DL: "61", MMOL_L: "3.4"}),
    ("glucose.predicted_low", Template.GLUCOSE_LOW, 81.0, {MG_DL: "81", MMOL_L: "4.5"}),
    ("glucose.high", Template.REMEASURE, 300.0, {MG_DL: "300", MMOL_L: "16.7"}),
    ("glucose.falling_fast", Template.REMEASURE, 120.0, {MG_DL: "120", MMOL_L: "6.7"}),
    ("glucose.high", Template.REMINDER, 300.0, None),  # no value in the text
    ("glucose.level1_low", Template.ADVICE, 85.0, None),
]


@pytest.mark.parametrize(("rule_id", "template", "value", "reads"), SCENARIOS)
@pytest.mark.parametrize("glucose_unit", [MG_DL, MMOL_L])
@pytest.mark.parametrize("lang", LANGS)
def test_a_glucose_message_speaks_one_unit_the_patients(
    lang: str,
    glucose_unit: str,
    rule_id: str,
    template: Template,
    value: float,
    reads: dict[str, str] | None,
) -> None:
    text = render(template, lang, metric="glucose", value=value, unit=MG_DL, rule_id=rule_id,
                  glucose_unit=glucose_unit)  # fmt: skip
    if reads is not None:
        assert f"{reads[glucose_unit]} {glucose_unit}" in text
    assert OTHER[glucose_unit] not in text
    assert LOW[OTHER[glucose_unit]] not in text  # never the other unit's threshold
    if template is Template.GLUCOSE_LOW:  # below, still below, back above, drive: all in one unit
        assert text.count(LOW[glucose_unit]) == 4


@pytest.mark.parametrize(
    ("lang", "glucose_unit", "must_say"),
    [
        ("zh", MMOL_L, ("最近读数 3.6 mmol/L", "如低于 3.9 mmol/L", "如仍低于 3.9，",
                        "回升到 3.9 以上后", "血糖回到 3.9 以上之前请勿驾车")),
        ("zh", MG_DL, ("最近读数 65 mg/dL", "如低于 70 mg/dL，", "如仍低于 70，")),
        ("en", MMOL_L, ("last reading 3.6 mmol/L", "below 3.9 mmol/L,", "still below 3.9,",
                        "back above 3.9, eat", "until it is back above 3.9.")),
        ("en", MG_DL, ("last reading 65 mg/dL", "below 70 mg/dL,", "still below 70,")),
    ],
)  # fmt: skip
def test_the_low_glucose_advice_in_the_patients_unit(
    lang: str, glucose_unit: str, must_say: tuple[str, ...]
) -> None:
    text = render(Template.GLUCOSE_LOW, lang, metric="glucose", value=METER_3_6, unit=MG_DL,
                  rule_id="glucose.level1_low_meter", glucose_unit=glucose_unit)  # fmt: skip
    for phrase in must_say:
        assert phrase in text, phrase


@pytest.mark.parametrize(("lang", "unit"), [("zh", MMOL_L), ("en", MG_DL)])
def test_without_a_known_unit_the_language_decides(lang: str, unit: str) -> None:
    text = render(Template.GLUCOSE_LOW, lang, metric="glucose", value=61.0, unit=MG_DL)
    assert f"{LOW[unit]} {unit}" in text and OTHER[unit] not in text
