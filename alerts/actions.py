"""What people do to alerts (acknowledge, assign, comment, escalate, snooze, resolve), as data,
and the errors an action can meet. Pure: the REST endpoints and the websocket build these, and
`alerts.response.PgResponse.act` carries them out.

Error tree (each with a stable `code`, mapped to JSON by the API in one place):

    ActionError
    ├── AlertNotFoundError  404 alert_not_found: no such alert, or one outside the actor's teams
    ├── ActionRefusedError  409 action_refused: the alert's state does not allow it (resolved,
    │                       nothing to acknowledge, snoozing a dangerous value, ...)
    └── InvalidActionError  422 invalid_action: the action itself is wrong (unknown staff, a
                            snooze in the past)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from alerts.escalation import Outcome


class ActionError(Exception):
    code = "action_error"
    status = 400


class AlertNotFoundError(ActionError):
    code = "alert_not_found"
    status = 404


class ActionRefusedError(ActionError):
    code = "action_refused"
    status = 409


class InvalidActionError(ActionError):
    code = "invalid_action"
    status = 422


@dataclass(frozen=True, slots=True)
class Actor:
    id: str  # a staff id, or "system"
    role: str  # nurse, doctor, admin, system
    team_ids: frozenset[str] | None = None  # None: every team (the system itself)

    def sees(self, team_id: str) -> bool:
        return self.team_ids is None or team_id in self.team_ids


SYSTEM = Actor("system", "system")


@dataclass(frozen=True, slots=True)
class Acknowledge:
    note: str = ""


@dataclass(frozen=True, slots=True)
class Assign:
    staff_id: str


@dataclass(frozen=True, slots=True)
class Comment:
    text: str


@dataclass(frozen=True, slots=True)
class Escalate:
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Snooze:
    until: datetime  # tz-aware
    reason: str


MAX_PLACE = 200


@dataclass(frozen=True, slots=True)
class Resolve:
    """Resolve with an outcome. "visit_booked" (the doctor's tier-3 call-back) says when and
    where: `visit_at` (tz-aware) and `visit_place` are required for it and refused otherwise."""

    outcome: Outcome
    note: str = ""
    visit_at: datetime | None = None
    visit_place: str = ""

    def record(self) -> dict[str, str]:
        """What the `resolved` event records (and the audit log with it), or InvalidActionError."""
        booked = self.outcome is Outcome.VISIT_BOOKED
        place = self.visit_place.strip()
        if booked and (self.visit_at is None or self.visit_at.tzinfo is None or not place):
            raise InvalidActionError("a booked visit needs its date and time and its place")
        if not booked and (self.visit_at is not None or place):
            raise InvalidActionError("a visit date and place go with the outcome visit_booked")
        if len(place) > MAX_PLACE:
            raise InvalidActionError(f"a visit place has at most {MAX_PLACE} characters")
        record = {"outcome": self.outcome.value, "note": self.note}
        if self.visit_at is not None:
            record |= {"visit_at": self.visit_at.isoformat(), "visit_place": place}
        return record


Action = Acknowledge | Assign | Comment | Escalate | Snooze | Resolve
