"""`vigil replay`: recorded readings through the same detectors and escalation in simulated time.
Hand-made files with the episodes they must give, byte for byte; the patient's meter re-check
answering a tier-1 prompt; bad input refused with a reason; and every dangerous value of a
cohort reaching a clinician."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from replay import (
    AnswerModel,
    Reading,
    ReplayInputError,
    ReplaySettings,
    read_devices,
    read_jsonl,
    replay,
    to_jsonl,
)
from simulators._cgm_errors import ErrorModel
from simulators.quality_cohorts import START, Physiology, cgm_patient, spo2_patient
from stream.detections import Severity
from stream.operator import OperatorConfig, StreamOperator
from stream.rules import DEFAULT_RULES, RuleSet

# 02:00-02:40 every 5 min: a dip below 70 mg/dL for three readings (one given in mmol/L)
DIP = [(110, 108), (95, 96), (80, 82), (66, 68), ("3.0", "3.0"), (60, 62), (75, 76), (90, 92),
       (100, 101)]  # fmt: skip


def lines(
    values: list[tuple[object, object]], device: str = "cgm-1", true: bool = True
) -> list[str]:
    out = []
    for k, (v, t) in enumerate(values):
        unit = "mmol/L" if isinstance(v, str) else "mg/dL"
        doc = {"device_id": device, "ts": f"2026-01-05T02:{5 * k:02d}:00Z", "metric": "glucose",
               "value": float(v), "unit": unit}  # fmt: skip
        if true:
            doc["true_value"] = float(t)  # type: ignore[arg-type]
        out.append(json.dumps(doc))
    return out


def rules(severity: Severity = Severity.HIGH) -> RuleSet:
    """Copies of the level-1 rules (CGM, meter) under ids no routing table knows: these tests
    pin the replay's mechanics, not today's detectors or routes."""
    by_id = {r.id: r for r in DEFAULT_RULES.thresholds}
    return RuleSet(
        thresholds=(replace(by_id["glucose.level1_low"], id="test.low", severity=severity),
                    replace(by_id["glucose.level1_low_meter"], id="test.meter_low")),
        trends=(), forecasts=(), anomalies=(), news2=(), silence=(),
    )  # fmt: skip


def paging() -> StreamOperator:
    return StreamOperator(rules())


def tier1_level1() -> StreamOperator:
    """The level-1 rule entering at tier 1 by its severity (a prompt to the patient)."""
    return StreamOperator(rules(Severity.MODERATE))


EXPECTED_DIP = (
    '{"device_id": "cgm-1", "patient_id": "cgm-1", "rule_id": "test.low", '
    '"severity": "high", "opened_at": "2026-01-05T02:26:00+00:00", '
    '"closed_at": "2026-01-05T02:41:00+00:00", "tier": 2, "tier_at": "2026-01-05T02:26:00+00:00", '
    '"paged_at": "2026-01-05T02:26:00+00:00", "prompts": [], "closed_by": "staff"}\n'
)


def test_a_hand_made_file_gives_its_episode_byte_for_byte_every_time() -> None:
    readings = read_jsonl(lines(DIP))
    assert readings[4].value == pytest.approx(3.0 * 18.016)  # mmol/L converted as the ingest does
    # third reading below 70 at 02:25, finalised at the next tick; cleared (2 readings >= 80)
    # at 02:41, when the simulated nurse resolves it
    first = to_jsonl(replay(readings, ReplaySettings(seed=5, operator=paging)))
    assert first == EXPECTED_DIP
    assert (
        to_jsonl(replay(read_jsonl(lines(DIP)), ReplaySettings(seed=5, operator=paging))) == first
    )


EXACT_METER = AnswerModel(share=1.0, delay_s=(300.0, 300.0), iso_limit_mg_dl=0.0,
                          iso_limit_share=0.0)  # fmt: skip


def at(hh_mm: str) -> float:
    return datetime.fromisoformat(f"2026-01-05T{hh_mm}:00+00:00").timestamp()


def test_a_patient_whose_meter_shows_recovery_resolves_the_prompt() -> None:
    settings = ReplaySettings(answers=EXACT_METER, operator=tier1_level1)
    (e,) = [e for e in replay(read_jsonl(lines(DIP)), settings) if e.rule_id == "test.low"]
    # prompted at 02:26; the meter 5 min later reads the true value then: 76 + (92-76)/5 = 79.2
    assert e.prompts == (at("02:26"),) and e.paged_at is None
    assert (e.tier, e.closed_at, e.closed_by) == (1, at("02:31"), "auto_resolved")


def test_a_patient_whose_meter_shows_a_low_goes_to_the_nurse() -> None:
    low = [(v, 55) if k >= 3 else (v, t) for k, (v, t) in enumerate(DIP)]
    settings = ReplaySettings(answers=EXACT_METER, operator=tier1_level1)
    episodes = replay(read_jsonl(lines(low)), settings)
    (e,) = [e for e in episodes if e.rule_id == "test.low"]
    assert (e.tier, e.tier_at, e.paged_at) == (2, at("02:31"), at("02:31"))
    (meter,) = [e for e in episodes if e.rule_id == "test.meter_low"]
    assert (meter.device_id, meter.patient_id) == ("cgm-1-meter", "cgm-1")


def test_without_true_values_nobody_answers_and_the_deadline_escalates() -> None:
    settings = ReplaySettings(answers=EXACT_METER, operator=tier1_level1)
    (e,) = [e for e in replay(read_jsonl(lines(DIP[:6], true=False)), settings)
            if e.rule_id == "test.low"]  # fmt: skip
    assert e.prompts == (at("02:26"),)
    assert (e.tier, e.tier_at, e.paged_at) == (2, at("02:41"), at("02:41"))  # 15-min deadline


def test_a_repeat_of_a_tier_1_alert_counts_as_the_re_measure_confirming_it() -> None:
    # alerts.lifecycle.repeated: for a rule entering by severity, the next CGM reading still
    # below 70 is taken as the re-measure
    stays_low = [*DIP[:6], (62, 0), (64, 0)]
    settings = ReplaySettings(answers=EXACT_METER, operator=tier1_level1)
    (e,) = [e for e in replay(read_jsonl(lines(stays_low, true=False)), settings)
            if e.rule_id == "test.low"]  # fmt: skip
    assert (e.tier, e.tier_at, e.paged_at) == (2, at("02:31"), at("02:31"))


def test_a_share_of_patients_answer_and_the_others_never_do() -> None:
    text = [line for k in range(30) for line in lines(DIP, device=f"cgm-{k}")]
    half = replace(EXACT_METER, share=0.5)
    episodes = replay(read_jsonl(text), ReplaySettings(seed=2, answers=half, operator=tier1_level1))
    by = {e.patient_id: e.closed_at for e in episodes if e.rule_id == "test.low"}
    answered = sum(t == at("02:31") for t in by.values())  # the meter reads 79: resolved
    unanswered = sum(t == at("02:41") for t in by.values())  # cleared by the CGM instead
    assert len(by) == 30 and 8 <= answered <= 22 and answered + unanswered == 30
    again = replay(read_jsonl(text), ReplaySettings(seed=2, answers=half, operator=tier1_level1))
    assert to_jsonl(again) == to_jsonl(episodes)


def test_a_device_mapping_puts_devices_on_one_patient() -> None:
    devices = read_devices({"cgm-1": {"patient_id": "p-7", "kind": "cgm", "cadence_s": 300}})
    (e,) = replay(read_jsonl(lines(DIP)), ReplaySettings(operator=paging), devices)
    assert (e.patient_id, e.device_id) == ("p-7", "cgm-1")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (
            '{"device_id": "d", "ts": "2026-01-05T02:00:00Z", "metric": "glucose", "value": 80}',
            "missing field 'unit'",
        ),
        (
            '{"device_id": "d", "ts": "2026-01-05T02:00:00", "metric": "glucose", "value": 80, "unit": "mg/dL"}',
            "ts needs a time zone",
        ),
        (
            '{"device_id": "d", "ts": 0, "metric": "glucose", "value": 80, "unit": "g/L"}',
            "unit 'g/L' not accepted for glucose",
        ),
        (
            '{"device_id": "d", "ts": 0, "metric": "ketones", "value": 1, "unit": "mmol/L"}',
            "unknown metric 'ketones'",
        ),
        ("not json", "JSONDecodeError"),
    ],
)
def test_an_unreadable_line_is_refused_with_its_number_and_reason(line: str, reason: str) -> None:
    good = lines(DIP)[0]
    with pytest.raises(ReplayInputError, match="line 2") as caught:
        read_jsonl([good, line])
    assert reason in str(caught.value)


def as_readings(samples: tuple[object, ...]) -> list[Reading]:
    epoch = START.timestamp()
    return [Reading(s.device_id, epoch + s.t_s, s.metric, s.value, s.true_value)  # type: ignore[attr-defined]
            for s in samples]  # fmt: skip


def level2(readings: list[Reading]) -> list[Reading]:
    """Glucose < 54 mg/dL: level 2, dangerous on a single reading (ADA)."""
    return [r for r in readings if r.value < 54.0]


def sustained_severe_desaturation(readings: list[Reading]) -> list[Reading]:
    """The fourth of four consecutive SpO2 readings <= 88 % (3 minutes; BTS: needs action), per
    device. Sustained means longer than a wrist oximeter's motion artefacts (1-3 readings in
    these cohorts): on two readings they paged ~2.6 times per patient-day (docs/detection.md)."""
    out = []
    for i in range(3, len(readings)):
        run = readings[i - 3 : i + 1]
        same = all(r.device_id == run[-1].device_id for r in run)
        if same and run[-1].at - run[0].at <= 180.0 and max(r.value for r in run) <= 88.0:
            out.append(run[-1])
    return out


@pytest.mark.parametrize(
    ("patients", "dangerous"),
    [
        (
            [cgm_patient(Physiology.NOCTURNAL, ErrorModel.CORRELATED, i, 2.0, 1) for i in range(4)],
            level2,
        ),
        (
            [cgm_patient(Physiology.NOCTURNAL, ErrorModel.DRIFT, i, 2.0, 2) for i in range(4)],
            level2,
        ),
        ([spo2_patient(i, 1.0, 1) for i in range(6)], sustained_severe_desaturation),
    ],
)
def test_every_dangerous_value_of_a_cohort_reaches_a_clinician(
    patients: list, dangerous: object
) -> None:
    """With today's detectors and routes: each such reading is held by a clinician (an alert of
    the patient, about that metric going low, paged at tier >= 2) within a tick of its arrival
    and the idle flush (2 min; a sustained SpO2, once finalised), and still open when it was
    taken."""
    readings = as_readings(tuple(s for p in patients for s in p.samples))
    episodes = [e for e in replay(readings, ReplaySettings(seed=1)) if e.worse == "lower"]
    moments = dangerous(readings)  # type: ignore[operator]
    # a sustained value waits for the stream's event-time order (a persistent rule fires when
    # the watermark passes it: the operator's allowed lateness, 120 s) and the next tick
    within = 120.0 if dangerous is level2 else 60.0 + OperatorConfig().allowed_lateness_s
    for r in moments:
        holders = [
            e for e in episodes
            if e.patient_id == r.device_id and e.metric == r.metric and e.paged_at is not None
            and e.tier >= 2 and e.paged_at <= r.at + within
            and (e.closed_at is None or e.closed_at >= r.at)
        ]  # fmt: skip
        assert holders, f"dangerous reading at {r.at} of {r.device_id} reached no clinician"
    assert len(moments) >= 5


def test_the_cohort_replay_is_stable_for_a_seed() -> None:
    patients = [
        cgm_patient(Physiology.NOCTURNAL, ErrorModel.CORRELATED, i, 1.0, 3) for i in range(3)
    ]
    readings = as_readings(tuple(s for p in patients for s in p.samples))
    settings = ReplaySettings(seed=3, operator=tier1_level1)
    first = to_jsonl(replay(readings, settings))
    assert first and first == to_jsonl(replay(readings, settings))
    assert all(json.loads(x)["opened_at"].endswith("+00:00") for x in first.splitlines())
    assert datetime.fromisoformat(json.loads(first.splitlines()[0])["opened_at"]).tzinfo == UTC


KEYS = ["device_id", "patient_id", "rule_id", "severity", "opened_at", "closed_at", "tier",
        "tier_at", "paged_at", "prompts", "closed_by"]  # fmt: skip


def test_vigil_replay_writes_the_episodes_and_refuses_a_bad_file_without_quoting_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from vigil import cli

    source, out = tmp_path / "export.jsonl", tmp_path / "episodes.jsonl"
    source.write_text("\n".join(lines(DIP)) + "\n")
    assert cli.main(["replay", str(source), "--out", str(out), "--seed", "4"]) == 0
    first = out.read_text()
    episodes = [json.loads(x) for x in first.splitlines()]
    assert episodes and all(list(e) == KEYS for e in episodes)  # whatever today's rules say
    assert all(e["rule_id"].startswith("glucose.") and e["tier"] >= 1 for e in episodes)
    assert cli.main(["replay", str(source), "--out", str(out), "--seed", "4"]) == 0
    assert out.read_text() == first
    source.write_text('{"device_id": "Jane Doe", "ts": "yesterday", "metric": "glucose"}\n')
    assert cli.main(["replay", str(source)]) == 2
    err = capsys.readouterr().err
    assert "line 1" in err and "Jane Doe" not in err and "yesterday" not in err
