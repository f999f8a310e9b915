"""The first stream slice and alert episodes: pure detection and episode folding."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerts.episodes import AlertStatus, EventKind, alert_id_for, open_or_update
from ingest.bound import BoundMessage
from ingest.contract import DeviceMessage, Measurement
from stream.detect import ThresholdDetector
from stream.detections import Severity

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def bp(
    seq: int, sbp: float, dbp: float = 90.0, minutes: float = 0, patient: str = "p1"
) -> BoundMessage:
    t = T0 + timedelta(minutes=minutes)
    ms = (
        Measurement("systolic_bp", sbp, "mm[Hg]", sbp, "mm[Hg]"),
        Measurement("diastolic_bp", dbp, "mm[Hg]", dbp, "mm[Hg]"),
    )
    return BoundMessage(patient, DeviceMessage("cuff-1", seq, t, t, ms))


@pytest.mark.parametrize(
    ("sbp", "fires"),
    [(179.0, False), (179.9, False), (180.0, True), (195.0, True), (120.0, False)],
)
def test_systolic_crisis_threshold(sbp: float, fires: bool) -> None:
    found = ThresholdDetector().detect([bp(1, sbp)])
    assert bool(found) == fires
    if fires:
        (d,) = found
        assert (d.rule_id, d.severity, d.value, d.patient_id) == (
            "bp.systolic.crisis",
            Severity.CRITICAL,
            sbp,
            "p1",
        )


def test_detections_are_deterministic_so_duplicates_are_recognisable() -> None:
    detector = ThresholdDetector()
    first = detector.detect([bp(7, 190.0)])
    again = detector.detect([bp(7, 190.0)])
    other = detector.detect([bp(8, 190.0)])
    assert first == again
    assert first[0].id != other[0].id


def test_an_episode_opens_once_and_repeats_update_it() -> None:
    d1, d2, d3 = (ThresholdDetector().detect([bp(s, v, minutes=m)])[0]
                  for s, v, m in ((1, 192.0, 0), (2, 185.0, 5), (3, 201.0, 10)))  # fmt: skip
    alert, e1 = open_or_update(None, d1)
    assert (alert.status, alert.count, alert.id, e1.kind) == (
        AlertStatus.OPEN,
        1,
        alert_id_for(d1),
        EventKind.OPENED,
    )
    alert, e2 = open_or_update(alert, d2)
    alert, e3 = open_or_update(alert, d3)
    assert (alert.count, alert.first_value, alert.last_value, alert.worst_value) == (
        3,
        192.0,
        201.0,
        201.0,
    )
    assert e2.kind == e3.kind == EventKind.UPDATED
    assert len({e1.event_id, e2.event_id, e3.event_id}) == 3
    assert e3.payload["count"] == 3 and e3.payload["alert_id"] == str(alert.id)


def test_a_late_reading_counts_but_does_not_become_the_latest_value() -> None:
    early, late = (
        ThresholdDetector().detect([bp(s, v, minutes=m)])[0]
        for s, v, m in ((2, 190.0, 10), (1, 185.0, 0))
    )
    alert, _ = open_or_update(None, early)
    alert, _ = open_or_update(alert, late)
    assert (alert.count, alert.last_value, alert.last_seen_at) == (2, 190.0, early.measured_at)


def test_the_same_detection_gives_the_same_event_id() -> None:
    d = ThresholdDetector().detect([bp(1, 190.0)])[0]
    _, opened = open_or_update(None, d)
    _, again = open_or_update(None, d)
    assert opened.event_id == again.event_id


def test_a_detection_updates_only_its_own_patient_and_rule() -> None:
    a = ThresholdDetector().detect([bp(1, 190.0, patient="p1")])[0]
    b = ThresholdDetector().detect([bp(1, 190.0, patient="p2")])[0]
    alert, _ = open_or_update(None, a)
    with pytest.raises(ValueError, match="own patient"):
        open_or_update(alert, b)
