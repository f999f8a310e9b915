"""Alerts: episodes built from detections, stored with an audit trail (DESIGN 5).

Public surface: `open_or_update`, `Alert`, `AlertEvent` (episodes.py, pure) and `PgAlertStore`
(repository.py, the adapter that the stream pipeline records detections into), with
`append_events` (repository.py: events appended to existing alerts as every writer appends them).
The escalation state machine and tier-1 automation build on these.
"""
