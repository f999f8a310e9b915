"""What the stream layer emits: a detection is one reading that a rule found noteworthy.

Detections are values with deterministic ids (a UUIDv5 of rule, patient, device and seq), so a
redelivered or replayed reading yields the very same detection and everything downstream can be
idempotent on that id.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

DETECTION_NAMESPACE = uuid.UUID("6f7e3f4a-2b1c-5d8e-9a0b-1c2d3e4f5a6b")


class Severity(StrEnum):
    INFO = "info"
    MODERATE = "moderate"
    HIGH = "high"
    CRITICAL = "critical"


class Worse(StrEnum):
    """Which direction of a value is worse for a rule (to keep the worst value of an episode)."""

    HIGHER = "higher"
    LOWER = "lower"


@dataclass(frozen=True, slots=True)
class Detection:
    id: uuid.UUID
    rule_id: str
    title: str
    severity: Severity
    worse: Worse
    patient_id: str
    device_id: str
    seq: int
    metric: str
    value: float
    unit: str
    measured_at: datetime

    def __post_init__(self) -> None:
        if self.measured_at.tzinfo is None:
            raise ValueError("measured_at must be timezone-aware")


def detection_id(rule_id: str, patient_id: str, device_id: str, seq: int) -> uuid.UUID:
    return uuid.uuid5(DETECTION_NAMESPACE, f"{rule_id}|{patient_id}|{device_id}|{seq}")
