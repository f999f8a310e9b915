"""Alert episodes folded from detections: pure, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerts.episodes import AlertStatus, EventKind, alert_id_for, condition_cleared, open_or_update
from stream.detections import Detection, Kind, Severity, Worse, detection_id

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def crisis(seq: int, value: float, minutes: float = 0, patient: str = "p1", *, kind: Kind = Kind.FIRED,
           late: bool = False, metric: str = "systolic_bp") -> Detection:  # fmt: skip
    return Detection(
        id=detection_id("bp.crisis", patient, "cuff-1", seq, metric, kind),
        rule_id="bp.crisis", title="Hypertensive crisis", severity=Severity.CRITICAL, worse=Worse.HIGHER,
        patient_id=patient, device_id="cuff-1", seq=seq, metric=metric, value=value,
        unit="mm[Hg]", measured_at=T0 + timedelta(minutes=minutes), kind=kind, late=late,
        dangerous=False,  # bp.crisis waits for confirmation (stream/rule_thresholds.py)
    )  # fmt: skip


def test_detection_ids_are_deterministic_and_distinct() -> None:
    assert crisis(7, 190.0).id == crisis(7, 190.0).id
    assert crisis(7, 190.0).id != crisis(8, 190.0).id
    assert crisis(7, 190.0).id != crisis(7, 190.0, kind=Kind.CLEARED).id


def test_an_episode_opens_once_and_repeats_update_it() -> None:
    d1, d2, d3 = crisis(1, 192.0, 0), crisis(2, 185.0, 5), crisis(3, 201.0, 10)
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


def test_a_bp_alert_keeps_the_values_of_the_metric_it_opened_on() -> None:
    # one cuff reading 212/127, then 215/127: the crisis rule fires on both pressures
    alert, _ = open_or_update(None, crisis(11, 212.0, 0))
    for d in (crisis(11, 127.0, 0, metric="diastolic_bp"), crisis(12, 215.0, 5),
              crisis(12, 127.0, 5, metric="diastolic_bp")):  # fmt: skip
        alert, event = open_or_update(alert, d)
        assert (event.payload["metric"], event.payload["value"]) == (d.metric, d.value)
    assert (alert.metric, alert.first_value, alert.last_value, alert.worst_value, alert.count) == (
        "systolic_bp", 212.0, 215.0, 215.0, 4)  # fmt: skip


def test_a_late_reading_counts_but_does_not_become_the_latest_value() -> None:
    early, late = crisis(2, 190.0, 10), crisis(1, 185.0, 0)
    alert, _ = open_or_update(None, early)
    alert, _ = open_or_update(alert, late)
    assert (alert.count, alert.last_value, alert.last_seen_at) == (2, 190.0, early.measured_at)


def test_a_late_finding_is_its_own_kind_of_event() -> None:
    _, event = open_or_update(None, crisis(1, 195.0, late=True))
    assert event.kind is EventKind.LATE_FINDING and event.payload["late"] is True


def test_a_cleared_condition_is_recorded_on_the_open_alert() -> None:
    alert, _ = open_or_update(None, crisis(1, 195.0))
    event = condition_cleared(alert, crisis(2, 150.0, 20, kind=Kind.CLEARED))
    assert (event.kind, event.alert_id) == (EventKind.CONDITION_CLEARED, alert.id)
    with pytest.raises(ValueError, match="fired"):
        open_or_update(alert, crisis(2, 150.0, 20, kind=Kind.CLEARED))


def test_a_detection_updates_only_its_own_patient_and_rule() -> None:
    alert, _ = open_or_update(None, crisis(1, 190.0, patient="p1"))
    with pytest.raises(ValueError, match="own patient"):
        open_or_update(alert, crisis(1, 190.0, patient="p2"))
