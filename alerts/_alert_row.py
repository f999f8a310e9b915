"""The stored alert as a typed record: the columns the escalator reads and the feed shows.

A database row becomes an `AlertRow` once, where it is read (alerts._locked.lock, and
alerts._sql.save_escalation's RETURNING); past that, the escalator works with typed fields, and
`as_json` turns it back into plain JSON values for event payloads and API answers. Pure: no
database access here. Must not: decide anything (that is alerts.escalation's job).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from enum import Enum
from typing import Any

from alerts.episodes import AlertStatus
from alerts.escalation import Due, Outcome, Tier
from stream.detections import Severity


@dataclass(frozen=True, slots=True)
class AlertRow:
    """An alert as stored. `dangerous`: raised by a value dangerous on its own (never snoozed)."""

    id: uuid.UUID
    patient_id: str
    rule_id: str
    title: str
    severity: Severity
    status: AlertStatus
    tier: Tier
    due: Due | None
    deadline: datetime | None
    metric: str
    unit: str
    first_value: float
    last_value: float
    worst_value: float
    count: int
    opened_at: datetime
    last_seen_at: datetime
    assigned_to: str | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    resolved_by: str | None
    outcome: Outcome | None
    snoozed_until: datetime | None
    snooze_reason: str | None
    dangerous: bool

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> AlertRow:
        """The record of a row holding (at least) `VIEW_COLUMNS`; unknown values raise."""
        values = {c: row[c] for c in VIEW_COLUMNS}
        values.update(
            severity=Severity(row["severity"]),
            status=AlertStatus(row["status"]),
            tier=Tier(row["tier"]),
            due=Due(row["due"]) if row["due"] else None,
            outcome=Outcome(row["outcome"]) if row["outcome"] else None,
            dangerous=bool(row["dangerous"]),
        )
        return cls(**values)

    def as_json(self) -> dict[str, Any]:
        """Plain JSON values: ids as strings, times in ISO 8601, enums as their values."""
        return {c: _plain(getattr(self, c)) for c in VIEW_COLUMNS}


VIEW_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(AlertRow))


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value
