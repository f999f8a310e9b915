"""The three-tier response on PostgreSQL: runs the pure escalation machine (alerts.escalation)
for each alert under its row lock, and carries out its effects as rows in the same transaction.

- `Escalator` is called by the alert store (alerts.repository) inside the pipeline's transaction:
  an alert opens (the machine starts, with the team's policy snapshotted), repeats, or its
  condition clears (a patient's re-measure back in range resolves a tier-1 alert).
- `PgResponse.act` carries out people's actions (alerts.actions), scoped to the actor's teams,
  and writes the audit-log row in the same transaction.
- `PgResponse.fire` is a timer firing: it moves the alert only if the fence it was armed with is
  still the alert's fence, read under the row lock, and the deadline has passed.

Effects: `Notify` pages whoever is on call (alerts.roster_store; a `pages` row per person, or one
with nobody, which feeds `NobodyOnCall` back to the machine so the backup is paged), and
`PromptPatient` writes a message to the outbox (`patient_messages`) in the patient's language
and glucose unit (alerts.glucose_units), delivered after commit by alerts.outbox. A transition
that sets a deadline NOTIFYs `vigil_deadlines`, which PostgreSQL delivers only when the
transaction commits: timers are armed (alerts.timers) only after commit.
Every transition and effect is an alert event (the audit trail and the live feed).

Whether a value is dangerous on its own comes with the detection (`Detection.dangerous`, set
from the rule table by the stream) and is stored with the alert (`alerts.dangerous`).

Must not: decide anything the machine decides, page a late finding (DESIGN 4), or read the
stream's rule table (alerts import only `stream.detections`).
"""

from __future__ import annotations

import logging
import uuid
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from alerts import _sql, lifecycle
from alerts._alert_row import AlertRow
from alerts._codec import policy_with, to_json
from alerts._locked import Lead, Locked, lock, mirror
from alerts._tx import DirectTx, Tx
from alerts.actions import (
    Acknowledge,
    Action,
    ActionRefusedError,
    Actor,
    AlertNotFoundError,
    Assign,
    Comment,
    Escalate,
    InvalidActionError,
    Resolve,
    Snooze,
)
from alerts.episodes import ALERT_NAMESPACE, AlertEvent, AlertStatus
from alerts.escalation import (
    Acknowledged,
    DeadlinePassed,
    Due,
    EscalateRequested,
    Escalation,
    NobodyOnCall,
    Notify,
    Outcome,
    Policy,
    PromptPatient,
    Refused,
    Resolved,
    Silence,
    Snoozed,
    Step,
    Tier,
    start,
    step,
)
from alerts.messages import Template, for_rule, render
from alerts.routing import route_for
from stream.detections import Detection

log = logging.getLogger(__name__)

MAX_EFFECTS = 8  # per transition; paging nobody feeds the machine, which must not loop forever
MAX_COMMENT = 2000


class Escalator:
    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock

    def _policy(self, locked: Locked) -> Policy:
        try:
            return policy_with(locked.team_policy)
        except (ValueError, KeyError, TypeError, AttributeError):
            log.error(
                "team %s has an invalid escalation policy; using the defaults", locked.team_id
            )
            return policy_with(None)

    def _start(
        self, locked: Locked, dangerous: bool, now: datetime, silence: Silence | None = None
    ) -> Step:
        route = route_for(locked.alert.rule_id)
        return start(self._policy(locked), locked.alert.severity, dangerous, now.timestamp(),
                     silence, route, locked.recent.episodes(route))  # fmt: skip

    def _state(self, locked: Locked, now: datetime) -> Escalation:
        # An alert opened before escalations were stored: start its machine now.
        return locked.state or self._start(locked, locked.alert.dangerous, now).state

    async def opened(self, tx: Tx, d: Detection, lead: AlertEvent) -> None:
        now = self._clock()
        locked = await tx.lock(lead.alert_id, now)
        assert locked is not None, "the alert was inserted in this transaction"
        # A value dangerous on its own (the rule table says so): never snoozed or silenced; a
        # late one is recorded for review, never paged (DESIGN 4): alerts.lifecycle.opened.
        first = lifecycle.opened(self._policy(locked), d, now.timestamp(), locked.silence,
                                 locked.recent.by_rule)  # fmt: skip
        await self.transition(tx, locked, first, now, Lead.of(lead))

    async def repeated(self, tx: Tx, d: Detection, lead: AlertEvent) -> None:
        now = self._clock()
        locked = await tx.lock(lead.alert_id, now)
        assert locked is not None, "the alert is locked by this transaction"
        state = self._state(locked, now)
        moved = lifecycle.repeated(state, d, now.timestamp(), locked.silence is not None)
        await self.transition(tx, locked, moved, now, Lead.of(lead))

    async def cleared(self, tx: Tx, lead: AlertEvent) -> None:
        now = self._clock()
        locked = await tx.lock(lead.alert_id, now)
        assert locked is not None, "the alert is locked by this transaction"
        state = self._state(locked, now)
        if state.tier is not Tier.PATIENT:  # a clinician has it and records the outcome
            await self.transition(tx, locked, Step(state), now, Lead.of(lead))
            return
        done = lifecycle.cleared(state, now.timestamp())
        changes = {"resolved_at": now, "resolved_by": "system"}
        alert = await self.transition(tx, locked, done, now, Lead.of(lead), changes)
        await self._message(tx, locked, alert, Template.ADVICE, done.state.fence)

    async def transition(
        self,
        tx: Tx,
        locked: Locked,
        first: Step,
        now: datetime,
        lead: Lead,
        changes: dict[str, Any] | None = None,
    ) -> AlertRow:
        """Carry out `first` (and what paging nobody leads to), store the state and the events;
        return the alert as stored. Raises ActionRefusedError if the machine refused the event."""
        before = locked.state
        state, events, refused = await self._carry_out(tx, locked, first, now)
        if refused:
            raise ActionRefusedError(refused[0])
        if state is before and not events and not changes:
            alert = locked.alert  # nothing to store (e.g. a repeat a clinician already has)
        else:
            columns = mirror(state, before, now, changes or {})
            alert = await tx.save_escalation(locked.alert.id, state, to_json(state), columns)
        payload = {**lead.payload, "from_tier": int(before.tier) if before else None}
        rows = [(lead.id, lead.kind, lead.at or now, payload, lead.actor)]
        for i, (kind, detail) in enumerate(events):
            effect_id = uuid.uuid5(ALERT_NAMESPACE, f"{lead.id}|effect|{i}")
            rows.append((effect_id, kind, now, {"detail": detail}, "system"))
        await tx.insert_events(alert, rows)
        return alert

    async def _carry_out(
        self, tx: Tx, locked: Locked, first: Step, now: datetime
    ) -> tuple[Escalation, list[tuple[str, dict[str, Any]]], list[str]]:
        state, queue = first.state, deque(first.effects)
        events: list[tuple[str, dict[str, Any]]] = []
        refused: list[str] = []
        for _ in range(MAX_EFFECTS):
            if not queue:
                break
            effect = queue.popleft()
            if isinstance(effect, Refused):
                refused.append(effect.reason)
            elif isinstance(effect, PromptPatient):
                template = Template(effect.template)
                await self._message(tx, locked, locked.alert, template, state.fence)
                events.append(("prompted", {"template": template.value, "lang": locked.lang}))
            elif not await self._page(tx, locked, state, effect, now, events) and not (
                effect.backup and effect.tier is Tier.DOCTOR
            ):
                nobody = step(state, NobodyOnCall(effect.tier), now.timestamp())
                state = nobody.state
                queue.extend(nobody.effects)
        if queue:
            log.error("alert %s: paging stopped after %d effects", locked.alert.id, MAX_EFFECTS)
        return state, events, refused

    async def _page(
        self,
        tx: Tx,
        locked: Locked,
        state: Escalation,
        notify: Notify,
        now: datetime,
        events: list[tuple[str, dict[str, Any]]],
    ) -> bool:
        """Page the tier's on-call people (or its backups); False when there is nobody."""
        who = await tx.who_to_page(locked.alert.patient_id, notify.tier, now)
        staff = who.backup if notify.backup else who.primary
        await tx.insert_pages(locked.alert, staff, notify.backup, state.fence, now,
                                int(notify.tier))  # fmt: skip
        detail = {"tier": int(notify.tier), "backup": notify.backup, "staff_ids": list(staff)}
        events.append(("paged" if staff else "nobody_on_call", detail))
        if not staff:
            log.error("alert %s: nobody on call at tier %d (backup: %s)",
                      locked.alert.id, notify.tier, notify.backup)  # fmt: skip
        return bool(staff)

    async def _message(
        self,
        tx: Tx,
        locked: Locked,
        alert: AlertRow,
        template: Template,
        fence: int,
    ) -> None:
        since = alert.opened_at.astimezone(ZoneInfo(locked.tz)).date()  # the last reading's day
        body = render(template, locked.lang, metric=alert.metric, value=alert.last_value,
                      unit=alert.unit, rule_id=alert.rule_id, since=since,
                      glucose_unit=locked.glucose_unit)  # fmt: skip
        message_id = uuid.uuid5(ALERT_NAMESPACE, f"message|{alert.id}|{fence}|{template}")
        sent = for_rule(template, alert.rule_id).value  # what the patient actually got
        await tx.insert_message(message_id, alert, sent, locked.lang, body)


class PgResponse:
    """People's actions and timer firings, each in its own transaction."""

    def __init__(self, pool: AsyncConnectionPool, clock: Callable[[], datetime]) -> None:
        self._pool = pool
        self._clock = clock
        self.escalator = Escalator(clock)

    async def act(self, alert_id: uuid.UUID, action: Action, actor: Actor) -> dict[str, Any]:
        async with self._pool.connection() as conn, conn.transaction():
            return await self.act_in(conn, alert_id, action, actor)

    async def act_in(
        self, conn: AsyncConnection[Any], alert_id: uuid.UUID, action: Action, actor: Actor
    ) -> dict[str, Any]:
        """`act` inside the caller's transaction (the care program completes a callback task
        and resolves its alert in one transaction)."""
        now = self._clock()
        await _sql.lock_alert_writes(conn)
        locked = await lock(conn, alert_id, now)
        if locked is None or not actor.sees(locked.team_id):
            raise AlertNotFoundError(f"no alert {alert_id}")
        if locked.alert.status is AlertStatus.RESOLVED:
            raise ActionRefusedError("the alert is resolved")
        alert = await self._act(conn, locked, action, actor, now)
        name = type(action).__name__.lower()
        await _sql.insert_audit(conn, now, actor.id, actor.role, name, alert)
        await conn.execute("SELECT pg_notify(%s, '')", (_sql.EVENTS_CHANNEL,))
        return alert.as_json()

    async def _act(
        self,
        conn: AsyncConnection[Any],
        locked: Locked,
        action: Action,
        actor: Actor,
        now: datetime,
    ) -> AlertRow:
        state = self.escalator._state(locked, now)
        lead_id = uuid.uuid4()  # people's actions are not replayed
        at = now.timestamp()
        changes: dict[str, Any] = {}
        match action:
            case Acknowledge(note):
                if state.tier is Tier.DOCTOR and actor.role not in ("doctor", "admin"):
                    raise ActionRefusedError("a tier-3 alert is acknowledged by a doctor")
                first = step(state, Acknowledged(actor.id), at)
                lead = Lead(lead_id, "acknowledged", actor.id, {"note": note})
            case Assign(staff_id):
                await _check_staff(conn, staff_id, locked.team_id)
                first, changes = Step(state), {"assigned_to": staff_id}
                lead = Lead(lead_id, "assigned", actor.id, {"staff_id": staff_id})
            case Comment(text):
                if not text.strip() or len(text) > MAX_COMMENT:
                    raise InvalidActionError(f"a comment has 1 to {MAX_COMMENT} characters")
                first = Step(state)
                lead = Lead(lead_id, "commented", actor.id, {"text": text})
            case Escalate(reason):
                first = step(state, EscalateRequested(actor.id), at)
                lead = Lead(lead_id, "escalated", actor.id, {"reason": reason})
            case Snooze(until, reason):
                first, changes = _snooze(state, until, reason, actor, now)
                lead = Lead(lead_id, "snoozed", actor.id,
                             {"until": until.isoformat(), "reason": reason})  # fmt: skip
            case Resolve(outcome):
                if outcome is Outcome.AUTO_RESOLVED:
                    raise InvalidActionError("auto_resolved is recorded by the system only")
                record = action.record()  # a booked visit's date and place, checked
                first = step(state, Resolved(outcome, actor.id), at)
                changes = {"resolved_at": now, "resolved_by": actor.id}
                lead = Lead(lead_id, "resolved", actor.id, record)
        return await self.escalator.transition(DirectTx(conn), locked, first, now, lead, changes)

    async def fire(self, alert_id: uuid.UUID, fence: int, now: datetime | None = None) -> bool:
        """A timer armed at `fence` went off; True if it moved the alert (at most once)."""
        now = now or self._clock()
        async with self._pool.connection() as conn, conn.transaction():
            await _sql.lock_alert_writes(conn)
            locked = await lock(conn, alert_id, now)
            if locked is None or locked.state is None:
                return False
            moved = step(locked.state, DeadlinePassed(fence), now.timestamp())
            if moved.state is locked.state:
                return False  # stale (another transition re-armed it), early, or resolved
            missed = {"missed": _value(locked.alert.due)}
            lead = Lead(uuid.uuid5(ALERT_NAMESPACE, f"deadline|{alert_id}|{fence}"),
                         "deadline_passed", payload=missed)  # fmt: skip
            await self.escalator.transition(DirectTx(conn), locked, moved, now, lead)
            await conn.execute("SELECT pg_notify(%s, '')", (_sql.EVENTS_CHANNEL,))
        return True

    async def pending(self, until: datetime) -> list[tuple[datetime, uuid.UUID, int]]:
        """Deadlines (with their fences) up to `until`, earliest first: what timers must arm."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT deadline, id, fence FROM alerts WHERE status <> 'resolved'"
                " AND deadline IS NOT NULL AND deadline <= %s ORDER BY deadline LIMIT 10000",
                (until,),
            )
            return [(d, i, f) for d, i, f in await cur.fetchall()]

    async def fire_due(self, now: datetime | None = None) -> int:
        """Fire every deadline already passed (after a restart, or for a missed timer)."""
        now = now or self._clock()
        fired = 0
        for _, alert_id, fence in await self.pending(now):
            fired += await self.fire(alert_id, fence, now)
        return fired


def _snooze(
    state: Escalation, until: datetime, reason: str, actor: Actor, now: datetime
) -> tuple[Step, dict[str, Any]]:
    if until.tzinfo is None or until <= now:
        raise InvalidActionError("a snooze needs a time-zone-aware `until` in the future")
    if not reason.strip():
        raise InvalidActionError("a snooze needs a reason")
    snoozed = step(state, Snoozed(until.timestamp(), reason, actor.id), now.timestamp())
    if snoozed.state is state and not snoozed.effects:
        raise InvalidActionError("a snooze must end after the current deadline")
    return snoozed, {"snoozed_until": until.astimezone(UTC), "snooze_reason": reason}


async def _check_staff(conn: AsyncConnection[Any], staff_id: str, team_id: str) -> None:
    cur = await conn.execute(
        "SELECT 1 FROM staff_teams WHERE staff_id = %s AND team_id = %s", (staff_id, team_id)
    )
    if await cur.fetchone() is None:
        raise InvalidActionError(f"{staff_id!r} is not on the patient's care team")


def _value(due: Due | None) -> str | None:
    return due.value if due else None
