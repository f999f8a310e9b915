"""The care program around the alerts (DESIGN 11): who each patient is, what they measure, whether
they keep measuring, how risky they are now, and what the care team must do next.

This room sits between the stream and the API: it may use `ingest` (the metric vocabulary),
`stream` (detections, rolling figures) and `alerts` (alert episodes and their events); `api` and
`reports` use it; `ingest`, `stream` and `alerts` never import it. Alerts and tasks must never
disagree, so the program follows alert events (the `alert_events` table) instead of the alert
writer calling into the program.

Planned modules, following the house rule of a pure core and thin adapters (CONVENTIONS 1, 10):

- `records.py` (pure): the patient record — conditions (ICD-10 / SNOMED CT code and display),
  medications with schedules, responsible doctor and nurse, enrolment, discharge, consent;
  versioned where a clinician asks "what was it on that day".
- `plans.py` (pure): measurement plans from per-condition templates; what is expected when.
- `adherence.py` (pure): expected vs received per plan item, days with data in a 30-day window.
- `risk.py` (pure): risk tier and tags, each tag from a cited rule, as a declarative table.
- `tasks.py` (pure): follow-up tasks and the structured record a completed task leaves.
- `repository.py` (adapter): all of the program's SQL; the schema changes only by migrations.

Nothing is public yet: the package is the room the care-program issue moves into.
"""
