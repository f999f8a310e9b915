"""The pure KPI core (reports.kpis) on plain data: control at the clinical edges (home BP mean
135/85, TIR exactly 70 %, TBR exactly 4 %, the minimum data), acknowledgement windows inside and
outside their deadline, callbacks, percentiles, the period and the CSV rendering."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest

from api.web import kpi_views as kv
from api.web.i18n import catalogs
from reports import kpis as k

NOW = datetime(2026, 12, 1, tzinfo=UTC)
T = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
M = timedelta(minutes=1)


def bp(n: int, sbp: float, dbp: float) -> k.PatientSums:
    return k.PatientSums("p", 30, 10, n, n * sbp, n, n * dbp)


@pytest.mark.parametrize(
    ("sums", "expected"),
    [
        (bp(12, 134, 84), True),  # both means under 135/85
        (bp(12, 135, 80), False),  # systolic mean exactly 135: not under
        (bp(12, 120, 85), False),  # diastolic mean exactly 85
        (bp(12, 134.9, 84.9), True),
        (bp(11, 120, 70), None),  # 11 readings: too few to judge
        (k.PatientSums("p", 30), None),  # no BP at all
    ],
    ids=["controlled", "sbp-135", "dbp-85", "just-under", "too-few", "none"],
)
def test_home_bp_control(sums: k.PatientSums, expected: bool | None) -> None:
    assert k.bp_controlled(sums) == expected


def glucose(n: int, tir: int, tbr: int, cgm: int, cadence: int | None = 300) -> k.PatientSums:
    return k.PatientSums("p", 30, 30, n_glucose=n, n_tir=tir, n_tbr=tbr, n_cgm=cgm,
                         cgm_cadence_s=cadence)  # fmt: skip


WORN = 6048  # 70 % of 30 days at 5 minutes


@pytest.mark.parametrize(
    ("sums", "expected"),
    [
        (glucose(WORN, 4300, 100, WORN), True),  # TIR 71 %, TBR 1.7 %
        (glucose(10000, 7000, 0, 10000), False),  # TIR exactly 70 %: not above
        (glucose(10000, 7001, 399, 10000), True),  # TIR 70.01 %, TBR 3.99 %
        (glucose(10000, 9000, 400, 10000), False),  # TBR exactly 4 %: not under
        (glucose(WORN - 1, WORN - 1, 0, WORN - 1), None),  # worn 69.99 %, too few for a meter
        (glucose(720, 720, 0, 720, 3600), True),  # an hourly sensor worn all period
        (glucose(30, 30, 0, 0, None), True),  # a meter once a day on average
        (glucose(29, 29, 0, 0, None), None),  # a meter, one reading short
    ],
    ids=["controlled", "tir-70", "just-in", "tbr-4", "wear-69", "hourly", "meter", "meter-few"],
)
def test_glucose_control(sums: k.PatientSums, expected: bool | None) -> None:
    assert k.glucose_controlled(sums, 30) == expected


@pytest.mark.parametrize(("days", "needed"), [(30, 16), (14, 8), (90, 48), (1, 1)])
def test_days_needed_scale_16_of_30(days: int, needed: int) -> None:
    assert k.days_needed(days) == needed


def window(tier: int, acked_after_min: float | None, ack_min: float = 60) -> k.AckWindow:
    acked = None if acked_after_min is None else T + acked_after_min * M
    return k.AckWindow(tier, T, T + ack_min * M, acked)


def test_ack_windows_inside_and_outside_the_deadline() -> None:
    windows = [
        window(2, 15),  # inside
        window(2, 60),  # at the deadline: inside
        window(2, 61),  # a minute late
        window(2, None),  # never acknowledged, deadline passed: missed
        k.AckWindow(2, NOW - M, NOW + 59 * M, None),  # still running: not judged
        window(3, 30, ack_min=15),  # the doctor late on a critical one
    ]
    r = k.response(windows, [], NOW)["by_tier"]
    assert r["2"]["acknowledged"] == 3
    assert (r["2"]["ack_median_s"], r["2"]["ack_p90_s"]) == (3600.0, 3648.0)
    assert r["2"]["within_deadline"] == {"n": 2, "of": 4, "pct": 50.0}
    assert r["3"]["within_deadline"] == {"n": 0, "of": 1, "pct": 0.0}


def test_callbacks_within_their_deadline() -> None:
    due = T + timedelta(hours=48)
    callbacks = [
        k.Callback(due, due - M, True),  # done in time
        k.Callback(due, due + M, True),  # done late
        k.Callback(due, None, False),  # overdue
        k.Callback(NOW + M, None, False),  # not yet due: not judged
    ]
    r = k.response([], callbacks, NOW)
    assert r["callbacks_within_deadline"] == {"n": 1, "of": 3, "pct": 33.3}


def test_false_alarm_share_and_burden_per_patient_day() -> None:
    counts = k.AlertCounts({1: 3, 2: 4, 3: 1}, {"bp.crisis": 1, "glucose.low": 7}, resolved=6,
                           false_alarms=3)  # fmt: skip
    b = k.burden(counts, patient_days=400)
    assert (b["alerts"], b["per_patient_day"]) == (8, 0.02)
    assert b["by_tier"]["2"] == {"n": 4, "per_patient_day": 0.01}
    assert b["false_alarm"] == {"n": 3, "of": 6, "pct": 50.0}
    assert k.burden(k.AlertCounts(), 0)["per_patient_day"] is None


def test_period_defaults_and_bounds() -> None:
    p = k.Period.last(date(2026, 12, 1))
    assert (p.start, p.end, p.days) == (date(2026, 11, 2), date(2026, 12, 1), 30)
    with pytest.raises(ValueError, match="a period runs forwards"):
        k.Period(date(2026, 12, 2), date(2026, 12, 1))
    with pytest.raises(ValueError, match="a period runs forwards"):
        k.Period(date(2025, 1, 1), date(2026, 12, 1))
    with pytest.raises(ValueError, match="a period lies between"):
        k.Period(date(1999, 12, 31), date(2000, 1, 1))


def test_csv_holds_every_figure_once() -> None:
    sums = [bp(14, 130, 80), k.PatientSums("q", 30)]
    result = k.compute("t1", k.Period.last(date(2026, 12, 1)), NOW, sums, k.AlertCounts(), [],
                       [], k.Share(1, 2))  # fmt: skip
    table = list(csv.reader(io.StringIO(k.to_csv(result))))
    assert table[0] == ["figure", "value"]
    values = dict(table[1:])
    assert len(values) == len(table) - 1
    assert values["patients.bp_controlled.pct"] == "100.0"
    assert values["patients.active"] == "1"
    assert values["follow_up_coverage.pct"] == "50.0"
    assert values["response.by_tier.3.ack_median_s"] == ""  # nothing acknowledged: empty


@pytest.mark.parametrize(("locale", "word"), [("en", "BP controlled"), ("zh", "血压达标")])
def test_the_kpi_page_words_in_both_languages(locale: str, word: str) -> None:
    t = catalogs()[locale]
    counts = k.AlertCounts({2: 2}, {"glucose.level2_low": 2}, 2, 1, {"false_alarm": 1, "open": 1})
    windows = [window(2, 15), window(2, 90)]
    result = k.compute("t1", k.Period.last(date(2026, 12, 1)), NOW, [bp(14, 130, 80)], counts,
                       windows, [], k.Share(0, 0)).as_json()  # fmt: skip
    rows = kv.patients(t, result)
    assert any(r.label == word and r.value == t("kpi.share", n=1, of=1, pct=100.0) for r in rows)
    alerts = kv.alerts(t, result)
    assert [r.label for r in alerts["by_rule"]] == [t.title("glucose.level2_low", "?")]
    assert {r.label for r in alerts["outcomes"]} == {t("outcome.false_alarm"), t("status.open")}
    tiers = kv.response(t, result)["tiers"]
    assert (tiers[0]["median"], tiers[0]["within"]) == ("52 min", t("kpi.share", n=1, of=2,
                                                                     pct=50.0))  # fmt: skip
    assert kv.response(t, result)["follow_up"] == "—"


@pytest.mark.parametrize(
    ("start", "end", "days", "expected"),
    [
        ("2026-11-01", "2026-11-30", "", (date(2026, 11, 1), date(2026, 11, 30))),
        ("", "", "7", (date(2026, 11, 25), date(2026, 12, 1))),
        ("", "", "", (date(2026, 11, 2), date(2026, 12, 1))),
        ("2026-12-01", "2026-11-01", "90", (date(2026, 9, 3), date(2026, 12, 1))),  # backwards
        ("junk", "2026-11-01", "9999", (date(2026, 11, 2), date(2026, 12, 1))),
    ],
)
def test_the_pages_period_from_its_form(
    start: str, end: str, days: str, expected: tuple[date, date]
) -> None:
    p = kv.chosen_period(start, end, days, date(2026, 12, 1))
    assert (p.start, p.end) == expected
