"""What the stream layer emits: a detection is one rule's finding about one reading (its anchor).

Detections are values with deterministic ids (a UUIDv5 of rule, kind, patient, device, seq and
metric), so a redelivered or replayed reading, or the same input on the other runner, yields the
very same detection, and everything downstream is idempotent on that id.

- kind FIRED: the rule's condition holds at the anchor reading;
- kind CLEARED: the condition has cleared with hysteresis (or a suspicion was refuted);
- `late`: the anchor arrived after the allowed lateness. It is recorded for review but must not
  page (DESIGN 4: no retroactive paging); only rules that fire on a single dangerous value
  produce late detections, so such a value still reaches a clinician.
- `dangerous`: the rule fires on a value dangerous on its own (its spec says so:
  `ThresholdRule.dangerous`, e.g. glucose < 54 mg/dL, SpO2 <= 92 %, BP in the crisis range).
  Alerts never silence or snooze such a value. The operator sets it from the rule table; it is
  a property of the rule, so a cleared detection of such a rule carries it too. It has no
  default: every constructor must say it.

Must not: import the rule table (rules import detections, and alerts read only this module).
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


class Kind(StrEnum):
    FIRED = "fired"
    CLEARED = "cleared"


Detail = tuple[str, float | str]


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
    # Required, no default: a detection built without saying whether its value is dangerous on
    # its own must not count as "not dangerous" (and be snoozed or silenced) by omission.
    dangerous: bool
    kind: Kind = Kind.FIRED
    late: bool = False
    details: tuple[Detail, ...] = ()
    rule_version: str = "default"

    def __post_init__(self) -> None:
        if self.measured_at.tzinfo is None:
            raise ValueError("measured_at must be timezone-aware")

    def detail(self, key: str) -> float | str | None:
        return next((v for k, v in self.details if k == key), None)


def detection_id(
    rule_id: str,
    patient_id: str,
    device_id: str,
    seq: int,
    metric: str = "",
    kind: Kind = Kind.FIRED,
) -> uuid.UUID:
    return uuid.uuid5(
        DETECTION_NAMESPACE, f"{rule_id}|{kind}|{patient_id}|{device_id}|{seq}|{metric}"
    )
