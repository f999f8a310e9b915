"""Alerts: episodes built from detections, the three-tier response, with an audit trail (DESIGN 5).

Pure modules (no I/O library, no clock: `now` is passed in):
- episodes.py: `open_or_update`, `Alert`, `AlertEvent`: one open alert per (patient, rule);
- escalation.py: the escalation state machine, `start` and `step` (tiers, deadlines, snoozes,
  silences; a value dangerous on its own always reaches a clinician);
- lifecycle.py: what a detection (opened, repeated, cleared) or a patient's re-check feeds
  the machine, shared by the PostgreSQL adapter and the replay (`vigil replay`);
- actions.py: what people do to alerts, as data, and the errors an action can meet;
- roster.py: who is on call now, per care team and tier;
- messages.py: tier-1 message templates (English, Chinese); glucose_units.py: the patient's
  glucose unit and values written in it; delivery.py: tier-1 delivery rules;
- _codec.py: the escalation state and team policies as JSON; _alert_row.py: `AlertRow`, the
  stored alert as a typed record.

Adapters (PostgreSQL unless said): repository.py (`PgAlertStore`, which the stream pipeline
records detections into, and `append_events`, which appends events to existing alerts as
every writer does), response.py (`Escalator` and `PgResponse`: the machine run under the
alert's row lock, people's actions, timer firings), timers.py (`DeadlineTimers`), outbox.py (the
tier-1 sender, over MQTT), roster_store.py, silences.py, and the shared SQL in _sql.py and
_locked.py; _tx.py (`Tx`: what the writers read and write, one statement per call) and
_batch.py (`BatchTx`: a batch of detections in two round trips); _refused.py (a detection
the writer cannot record: kept in `refused_detections`, technical alert `detection_unrecorded`).

Must not: import api, simulators or vigil, or anything of stream but `stream.detections` (what
an alert needs, such as whether a value is dangerous on its own, travels on the detection).
"""
