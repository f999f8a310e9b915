"""Alert episodes: one open alert per (patient, rule); repeats update it (DESIGN 5).

Pure functions over frozen values, no I/O and no clock. `open_or_update` folds one detection
into the currently open alert of its (patient, rule), or opens a new one, and says which audit
event that is. Ids are deterministic:

- an alert's id derives from the detection that opened it, so a replay of that detection cannot
  open a second alert;
- an event's id derives from the alert and the detection, so a redelivered detection is
  recognised (the store inserts events with ON CONFLICT DO NOTHING and only then updates counts).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from stream.detections import Detection, Kind, Severity, Worse

ALERT_NAMESPACE = uuid.UUID("0b6c1a52-7d3e-5f21-8c4b-2e9d7a6f1c30")


class AlertStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class EventKind(StrEnum):
    OPENED = "opened"
    UPDATED = "updated"
    LATE_FINDING = "late_finding"  # a dangerous value that arrived too late to page
    CONDITION_CLEARED = "condition_cleared"  # the rule's condition cleared (hysteresis)


@dataclass(frozen=True, slots=True)
class Alert:
    id: uuid.UUID
    patient_id: str
    rule_id: str
    title: str
    severity: Severity
    status: AlertStatus
    metric: str
    unit: str
    worse: Worse
    first_value: float
    last_value: float
    worst_value: float
    count: int
    opened_at: datetime
    last_seen_at: datetime

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError("an alert counts at least the reading that opened it")


@dataclass(frozen=True, slots=True)
class AlertEvent:
    event_id: uuid.UUID
    alert_id: uuid.UUID
    patient_id: str
    kind: EventKind
    at: datetime
    payload: dict[str, Any]


def alert_id_for(detection: Detection) -> uuid.UUID:
    return uuid.uuid5(ALERT_NAMESPACE, f"alert|{detection.id}")


def event_id_for(alert_id: uuid.UUID, detection: Detection) -> uuid.UUID:
    return uuid.uuid5(ALERT_NAMESPACE, f"event|{alert_id}|{detection.id}")


def _worst(worse: Worse, a: float, b: float) -> float:
    return max(a, b) if worse is Worse.HIGHER else min(a, b)


def open_or_update(current: Alert | None, d: Detection) -> tuple[Alert, AlertEvent]:
    """The alert after a FIRED detection `d`, and the event that records it."""
    if d.kind is not Kind.FIRED:
        raise ValueError("only fired detections open or update alerts")
    if current is None:
        alert = Alert(
            id=alert_id_for(d),
            patient_id=d.patient_id,
            rule_id=d.rule_id,
            title=d.title,
            severity=d.severity,
            status=AlertStatus.OPEN,
            metric=d.metric,
            unit=d.unit,
            worse=d.worse,
            first_value=d.value,
            last_value=d.value,
            worst_value=d.value,
            count=1,
            opened_at=d.measured_at,
            last_seen_at=d.measured_at,
        )
        kind = EventKind.OPENED
    else:
        if (current.patient_id, current.rule_id) != (d.patient_id, d.rule_id):
            raise ValueError("a detection only updates the alert of its own patient and rule")
        latest = d.measured_at >= current.last_seen_at
        # A rule over several metrics (BP crisis: systolic or diastolic) keeps the values of the
        # metric the alert opened on; the others are in their events, never mixed into its row
        # (a "systolic 127 mmHg" that was the diastolic reached worklists and patients).
        same = d.metric == current.metric
        alert = replace(
            current,
            last_value=d.value if latest and same else current.last_value,
            worst_value=_worst(current.worse, current.worst_value, d.value)
            if same
            else current.worst_value,
            count=current.count + 1,
            last_seen_at=max(current.last_seen_at, d.measured_at),
        )
        kind = EventKind.UPDATED
    if d.late:
        kind = EventKind.LATE_FINDING
    return alert, _event(alert, d, kind)


def condition_cleared(current: Alert, d: Detection) -> AlertEvent:
    """The event recording that an open alert's condition cleared (the alert stays open)."""
    if d.kind is not Kind.CLEARED:
        raise ValueError("expected a cleared detection")
    return _event(current, d, EventKind.CONDITION_CLEARED)


def _event(alert: Alert, d: Detection, kind: EventKind) -> AlertEvent:
    payload = {
        "alert_id": str(alert.id),
        "patient_id": alert.patient_id,
        "rule_id": alert.rule_id,
        "title": alert.title,
        "severity": alert.severity.value,
        "status": alert.status.value,
        "metric": d.metric,  # what this detection measured: `value` is in its metric and unit
        "unit": d.unit,
        "value": d.value,
        "worst_value": alert.worst_value,
        "count": alert.count,
        "opened_at": alert.opened_at.isoformat(),
        "measured_at": d.measured_at.isoformat(),
        "device_id": d.device_id,
        "seq": d.seq,
        "late": d.late,
        "detection_id": str(d.id),
        "details": {k: v for k, v in d.details},
    }
    return AlertEvent(
        event_id_for(alert.id, d), alert.id, alert.patient_id, kind, d.measured_at, payload
    )
