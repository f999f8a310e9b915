"""The pipeline's alert writer for a whole batch of detections, in a few round trips.

`BatchTx.load` takes the event-order lock and, in the same round trip (psycopg pipeline mode),
inserts the batch's detections (ON CONFLICT DO NOTHING RETURNING id: the new ones), locks the open
alerts of the batch's (patient, rule) pairs, and reads what the escalator needs: the patients'
teams, languages, glucose units (of those with a glucose detection), policies and rosters, the
silences in force, and the patients' alerts of the recurrence window. The store (alerts.repository)
then folds the detections one by one, in order, through the very code of the per-detection writer
(alerts._tx.Tx: episodes and escalator), which here reads and writes memory; `flush` queues the
result in the caller's pipeline, sent with its COMMIT (the second round trip), one statement per
table: alert rows (updates, then inserts, from JSON), events in the order they were made (so `seq`
follows it), pages, patient messages, and the NOTIFYs. The care program's trigger on `alert_events`
(0009) thus sees each alert's row as the batch leaves it; the pipeline resolves only tier-1 alerts,
which have no callback task, so it acts as it did per detection (docs/architecture.md).

What memory holds is what the per-detection writer would have read back: alerts and times as
PostgreSQL returns them (UTC), the open alert of (patient, rule) after each change, recurrences
counting the batch's earlier alerts. Must not: be used without the event-order lock (load takes
it first), or decide anything (alerts.episodes, alerts.escalation do).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from psycopg import AsyncConnection
from psycopg.rows import dict_row

from alerts import _sql
from alerts._alert_row import VIEW_COLUMNS, AlertRow
from alerts._codec import from_json
from alerts._locked import DEVICE_GLUCOSE_UNIT, Locked
from alerts._tx import episode
from alerts.episodes import Alert, AlertStatus
from alerts.escalation import Escalation, Silence, Tier
from alerts.glucose_units import patient_unit
from alerts.roster import OnCall
from alerts.roster_store import PAGING_MANY, paging_for
from alerts.routing import RECUR_WINDOW_S, SAME_EPISODE_S, Recent
from stream.detections import Detection

MUTABLE = ("status", "tier", "due", "deadline", "fence", "escalation", "dangerous", "assigned_to",
           "acknowledged_by", "acknowledged_at", "resolved_at", "resolved_by", "outcome",
           "snoozed_until", "snooze_reason", "condition_cleared_at", "last_value", "worst_value",
           "count", "last_seen_at")  # fmt: skip
_NEW_DEFAULTS = {c: None for c in MUTABLE} | {"tier": 2, "fence": 0, "dangerous": False}
_SLACK = timedelta(days=1)  # overrides and silences read: those ending after load time - this


class UnknownPatientError(LookupError):
    """A detection names a patient who is not enrolled (the per-detection writer refuses it)."""


@dataclass(slots=True)
class _Slot:
    """An alert the batch locked or opened: its episode, and its row as it will be stored."""

    alert: Alert
    cols: dict[str, Any]  # VIEW_COLUMNS, `worse` and MUTABLE, as PostgreSQL returns them
    state: Escalation | None
    recent: dict[str, int]  # an existing alert's recurrences in the database (read at load)
    new: bool
    touched: bool = False
    row: AlertRow | None = None  # `cols` as a record (kept until `cols` changes)
    row_json: dict[str, Any] | None = None  # `row.as_json()`

    def view(self) -> AlertRow:
        if self.row is None:
            self.row, self.row_json = AlertRow.from_row(self.cols), None
        return self.row

    def view_json(self, row: AlertRow) -> dict[str, Any]:
        if row is not self.row:
            return row.as_json()
        if self.row_json is None:
            self.row_json = row.as_json()
        return self.row_json

    def change(self, **cols: Any) -> None:
        self.cols.update(cols)
        self.touched, self.row = True, None


@dataclass(frozen=True, slots=True)
class _Patient:
    team_id: str
    lang: str
    tz: str
    policy: dict[str, Any] | None
    paging: tuple[Any, ...] | None  # a PAGING_MANY row without the id
    glucose_unit: str  # alerts.glucose_units.patient_unit


class BatchTx:
    """alerts._tx.Tx over memory: built by `load`, written by `flush`."""

    def __init__(self, new_ids: set[uuid.UUID], slots: list[_Slot],
                 patients: dict[str, _Patient], silences: dict[str, list[tuple[Any, ...]]],
                 history: dict[str, list[tuple[Any, ...]]]) -> None:  # fmt: skip
        self._new_ids = new_ids
        self._slots = {s.alert.id: s for s in slots}
        self._open = {(s.alert.patient_id, s.alert.rule_id): s.alert.id for s in slots}
        self._patients, self._silences, self._history = patients, silences, history
        self._events: list[tuple[Any, ...]] = []
        self._pages: list[tuple[Any, ...]] = []
        self._messages: list[tuple[Any, ...]] = []
        self._deadlines: list[str] = []

    async def is_new(self, d: Detection) -> bool:
        return d.id in self._new_ids

    async def open_alert(self, patient_id: str, rule_id: str) -> Alert | None:
        slot = self._slots.get(self._open.get((patient_id, rule_id)))  # type: ignore[arg-type]
        if slot is None or slot.cols["status"] == AlertStatus.RESOLVED.value:
            return None
        if slot.alert.status.value != slot.cols["status"]:
            slot.alert = replace(slot.alert, status=AlertStatus(slot.cols["status"]))
        return slot.alert

    async def insert_alert(self, a: Alert) -> None:
        if a.patient_id not in self._patients:
            raise UnknownPatientError(f"alert {a.id}: the patient is not enrolled")
        if a.id in self._slots:
            return  # ON CONFLICT (id) DO NOTHING
        a = _utc_alert(a)
        cols = {c: getattr(a, c) for c in _sql.EPISODE_NAMES} | dict(_NEW_DEFAULTS)
        cols.update(severity=a.severity.value, status=a.status.value, worse=a.worse.value,
                    last_value=a.last_value, worst_value=a.worst_value, count=a.count,
                    last_seen_at=a.last_seen_at)  # fmt: skip
        self._slots[a.id] = _Slot(a, cols, None, {}, new=True, touched=True)
        self._open[(a.patient_id, a.rule_id)] = a.id

    async def update_alert(self, a: Alert) -> None:
        slot = self._slots[a.id]
        slot.alert = _utc_alert(a)
        slot.change(
            last_value=a.last_value,
            worst_value=a.worst_value,
            count=a.count,
            last_seen_at=slot.alert.last_seen_at,
            condition_cleared_at=None,
        )

    async def mark_cleared(self, alert_id: uuid.UUID, at: datetime) -> None:
        self._slots[alert_id].change(condition_cleared_at=at.astimezone(UTC))

    async def lock(self, alert_id: uuid.UUID, at: datetime) -> Locked | None:
        slot = self._slots.get(alert_id)
        if slot is None:
            return None
        p = self._patients[slot.alert.patient_id]
        silence = self._silence(slot.alert.patient_id, slot.alert.rule_id, at)
        return Locked(slot.view(), slot.state, p.team_id, p.lang, p.policy,
                      silence, p.tz, Recent(self._recent(slot)), p.glucose_unit)  # fmt: skip

    async def who_to_page(self, patient_id: str, tier: Tier, at: datetime) -> OnCall:
        p = self._patients.get(patient_id)
        if p is None or p.paging is None:
            return OnCall((), ())
        return paging_for(p.paging, tier, at)

    async def insert_pages(
        self, alert: AlertRow, staff: tuple[str, ...], backup: bool, fence: int, at: datetime,
        tier: int,
    ) -> None:  # fmt: skip
        self._pages += [(alert.id, tier, s, backup, fence, at) for s in staff or (None,)]

    async def insert_message(
        self, message_id: uuid.UUID, alert: AlertRow, template: str, lang: str, body: str
    ) -> None:
        self._messages.append((message_id, alert.id, alert.patient_id, template, lang, body))

    async def save_escalation(
        self, alert_id: uuid.UUID, state: Escalation, state_json: dict[str, Any],
        changes: dict[str, Any],
    ) -> AlertRow:  # fmt: skip
        slot = self._slots[alert_id]
        columns = _sql.escalation_columns(state, state_json, changes)
        slot.change(**{k: _utc(v) for k, v in columns.items()})
        slot.state = state
        if columns["deadline"] is not None:
            self._deadlines.append(_sql.deadline_note(alert_id, state))
        return slot.view()

    async def insert_events(self, alert: AlertRow, rows: list[_sql.EventRow]) -> None:
        slot = self._slots.get(alert.id)
        view = slot.view_json(alert) if slot is not None else alert.as_json()
        for event_id, kind, at, payload, actor in rows:
            doc = _json({**payload, **view, "actor": actor})
            self._events.append((event_id, alert.id, alert.patient_id, kind, at, doc, actor,
                                 int(alert.tier)))  # fmt: skip

    def _silence(self, patient_id: str, rule_id: str, at: datetime) -> Silence | None:
        """The silence in force at `at` that ends last (alerts._locked.lock's)."""
        live = [(ends, reason) for rule, starts, ends, reason in self._silences.get(patient_id, ())
                if (rule is None or rule == rule_id) and starts <= at < ends]  # fmt: skip
        if not live:
            return None
        ends, reason = max(live, key=lambda s: s[0])
        return Silence(ends.timestamp(), reason)

    def _recent(self, slot: _Slot) -> dict[str, int]:
        """The patient's other alerts opened from RECUR_WINDOW_S to SAME_EPISODE_S before this
        one, per rule: in the database, and opened by this batch so far."""
        at = slot.alert.opened_at
        lo, hi = at - timedelta(seconds=RECUR_WINDOW_S), at - timedelta(seconds=SAME_EPISODE_S)
        counts = dict(slot.recent)
        patient = slot.alert.patient_id
        others = [(s.alert.id, s.alert.rule_id, s.alert.opened_at) for s in self._slots.values()
                  if s.new and s.alert.patient_id == patient]  # fmt: skip
        if slot.new:  # an existing alert's count from the database was read at load
            others += self._history.get(patient, [])
        for alert_id, rule_id, opened_at in others:
            if alert_id != slot.alert.id and lo < opened_at <= hi:
                counts[rule_id] = counts.get(rule_id, 0) + 1
        return counts

    @classmethod
    async def load(
        cls, conn: AsyncConnection[Any], ordered: Sequence[Detection], now: datetime
    ) -> BatchTx:
        """Lock, insert the detections and read the batch's alerts and context: one round trip
        (in the caller's pipeline, with its BEGIN)."""
        patients = sorted({d.patient_id for d in ordered})
        glucose = sorted({d.patient_id for d in ordered if d.metric == "glucose"})
        pairs = sorted({(d.patient_id, d.rule_id) for d in ordered})
        since = min(d.measured_at for d in ordered) - timedelta(seconds=RECUR_WINDOW_S)
        columns = [list(c) for c in zip(*(_detection(d) for d in ordered), strict=True)]
        async with conn.pipeline():  # the caller's, if it has one (a nested one syncs here)
            await _sql.lock_alert_writes(conn)
            # binary arrays (%b): text arrays would be escaped element by element
            inserted = await conn.execute(_INSERT_DETECTIONS, columns)
            opened = conn.cursor(row_factory=dict_row)
            await opened.execute(_OPEN_ALERTS, {"patients": [p for p, _ in pairs],
                                                "rules": [r for _, r in pairs],
                                                "recur_s": RECUR_WINDOW_S,
                                                "same_s": SAME_EPISODE_S})  # fmt: skip
            ctx = await conn.execute(_PATIENTS, (glucose, patients))
            rota = await conn.execute(PAGING_MANY, {"patients": patients, "since": now - _SLACK})
            quiet = await conn.execute(_SILENCES, (patients, now - _SLACK))
            past = await conn.execute(_HISTORY, (patients, since))
            new_ids = {row[0] for row in await inserted.fetchall()}
            slots = [_existing(row) for row in await opened.fetchall()]
            rotas = {row[0]: tuple(row[1:]) for row in await rota.fetchall()}
            people = {pid: _Patient(team, lang, tz, policy, rotas.get(pid),
                                    patient_unit(lang, device, chosen))
                      for pid, team, lang, tz, policy, chosen, device
                      in await ctx.fetchall()}  # fmt: skip
            silences: dict[str, list[tuple[Any, ...]]] = {}
            for pid, *silence in await quiet.fetchall():
                silences.setdefault(pid, []).append(tuple(silence))
            history: dict[str, list[tuple[Any, ...]]] = {}
            for pid, *alert in await past.fetchall():
                history.setdefault(pid, []).append(tuple(alert))
        return cls(new_ids, slots, people, silences, history)

    async def flush(self, conn: AsyncConnection[Any], notify_events: bool) -> None:
        """Write what the batch did, in the caller's pipeline: sent with its COMMIT."""
        touched = [s for s in self._slots.values() if s.touched]
        updates = [_row(s, MUTABLE) for s in touched if not s.new]
        inserts = [_row(s, _INSERTED) for s in touched if s.new]
        notes = [(_sql.DEADLINES_CHANNEL, n) for n in self._deadlines]
        if self._messages:
            notes.append((_sql.OUTBOX_CHANNEL, ""))
        if notify_events:
            notes.append((_sql.EVENTS_CHANNEL, ""))
        async with conn.cursor() as cur:  # one statement per table, rows in the order made
            for sql, rows in ((_UPDATE, updates), (_INSERT, inserts)):
                if rows:
                    await cur.execute(sql, (_json(rows),))
            for sql, params in ((_INSERT_PAGES, self._pages), (_INSERT_EVENTS, self._events),
                                (_NOTIFY, notes)):  # fmt: skip
                if params:  # binary arrays (%b), as in `load`
                    await cur.execute(sql, [list(c) for c in zip(*params, strict=True)])
            if self._messages:
                await cur.executemany(_INSERT_MESSAGE, self._messages)


def _utc(value: Any) -> Any:
    return value.astimezone(UTC) if isinstance(value, datetime) else value


def _utc_alert(a: Alert) -> Alert:
    if a.opened_at.tzinfo is UTC and a.last_seen_at.tzinfo is UTC:
        return a
    return replace(a, opened_at=a.opened_at.astimezone(UTC),
                   last_seen_at=a.last_seen_at.astimezone(UTC))  # fmt: skip


def _detection(d: Detection) -> tuple[Any, ...]:
    """`_sql.detection_values` with the details as JSON text (orjson: the batch's hot path)."""
    values = _sql.detection_values(d)
    return (*values[:12], _json(dict(d.details)), values[13])


def _json(value: Any) -> str:
    """JSON text as psycopg's Jsonb would send it (json.dumps), faster; numpy numbers (details
    computed by the stream) as plain numbers, times in ISO 8601 with their offset."""
    options = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
    return orjson.dumps(value, default=_number, option=options).decode()


def _number(value: Any) -> Any:
    if isinstance(value, float):
        return float(value)
    if isinstance(value, int):
        return int(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


def _existing(row: dict[str, Any]) -> _Slot:
    recent = row.pop("recent") or {}
    raw = row["escalation"]
    return _Slot(episode(row), row, from_json(raw) if raw else None,
                 {str(k): int(v) for k, v in recent.items()}, new=False)  # fmt: skip


def _row(slot: _Slot, columns: Sequence[str]) -> dict[str, Any]:
    return {**{c: slot.cols[c] for c in columns}, "id": slot.alert.id}


_INSERTED = tuple(dict.fromkeys((*_sql.EPISODE_NAMES, *MUTABLE)))
_UPDATE = (f"UPDATE alerts a SET {', '.join(f'{c} = r.{c}' for c in MUTABLE)},"
           " updated_at = now() FROM jsonb_populate_recordset(NULL::alerts, %s::jsonb) r"
           " WHERE a.id = r.id")  # fmt: skip
_INSERT = (f"INSERT INTO alerts ({', '.join(_INSERTED)}) SELECT {', '.join(_INSERTED)}"
           " FROM jsonb_populate_recordset(NULL::alerts, %s::jsonb)"
           " ON CONFLICT (id) DO NOTHING")  # fmt: skip
_INSERT_PAGES = """
INSERT INTO pages (alert_id, tier, staff_id, backup, fence, at)
SELECT a, r, s, b, f, t
  FROM unnest(%b::uuid[], %b::int2[], %b::text[], %b::bool[], %b::int4[], %b::timestamptz[])
       WITH ORDINALITY AS u(a, r, s, b, f, t, n)
 ORDER BY n
"""
_NOTIFY = "SELECT pg_notify(c, m) FROM unnest(%b::text[], %b::text[]) WITH ORDINALITY AS u(c, m, n)"
_INSERT_MESSAGE = ("INSERT INTO patient_messages (id, alert_id, patient_id, template, lang, body)"
                   " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING")  # fmt: skip
_INSERT_EVENTS = """
INSERT INTO alert_events (event_id, alert_id, patient_id, kind, at, payload, actor, tier)
SELECT e, a, p, k, t, d::jsonb, w, r
  FROM unnest(%b::uuid[], %b::uuid[], %b::text[], %b::text[], %b::timestamptz[], %b::text[],
              %b::text[], %b::int2[]) WITH ORDINALITY AS u(e, a, p, k, t, d, w, r, n)
 ORDER BY n
ON CONFLICT (event_id) DO NOTHING
"""
_INSERT_DETECTIONS = f"""
INSERT INTO detections ({_sql.DETECTION_COLUMNS})
SELECT i, p, r, k, s, l, dv, sq, m, v, u, t, d::jsonb, rv
  FROM unnest(%b::uuid[], %b::text[], %b::text[], %b::text[], %b::text[], %b::bool[], %b::text[],
              %b::int8[], %b::text[], %b::float8[], %b::text[], %b::timestamptz[], %b::text[],
              %b::text[]) AS x(i, p, r, k, s, l, dv, sq, m, v, u, t, d, rv)
ON CONFLICT (id) DO NOTHING RETURNING id
"""
_OPEN_ALERTS = f"""
SELECT {", ".join(f"a.{c}" for c in VIEW_COLUMNS)}, a.worse, a.escalation, a.fence,
       a.condition_cleared_at,
       (SELECT json_object_agg(r.rule_id, r.n) FROM (SELECT o.rule_id, count(*) AS n
          FROM alerts o WHERE o.patient_id = a.patient_id AND o.id <> a.id
           AND o.opened_at <= a.opened_at - make_interval(secs => %(same_s)s)
           AND o.opened_at > a.opened_at - make_interval(secs => %(recur_s)s)
         GROUP BY o.rule_id) r) AS recent
  FROM alerts a
 WHERE a.status <> 'resolved'
   AND (a.patient_id, a.rule_id) IN (SELECT * FROM unnest(%(patients)s::text[], %(rules)s::text[]))
 ORDER BY a.id FOR UPDATE OF a
"""
_PATIENTS = f"""
SELECT p.id, p.team_id, p.lang, p.tz, t.escalation_policy, p.glucose_unit,
       CASE WHEN p.id = ANY(%s::text[]) THEN {DEVICE_GLUCOSE_UNIT.format(patient="p.id")} END
  FROM patients p JOIN care_teams t ON t.id = p.team_id WHERE p.id = ANY(%s)
"""
_SILENCES = """
SELECT patient_id, rule_id, starts_at, ends_at, reason FROM silences
 WHERE patient_id = ANY(%s) AND ends_at > %s
"""
_HISTORY = """
SELECT patient_id, id, rule_id, opened_at FROM alerts WHERE patient_id = ANY(%s) AND opened_at > %s
"""
