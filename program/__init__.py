"""The care program around the alerts (DESIGN 11): who each patient is, what they measure, whether
they keep measuring, how risky they are now, and what the care team must do next.

This room sits between the stream and the API: it may use `ingest` (the metric vocabulary),
`stream` (detections, rolling figures) and `alerts` (alert episodes, the alert store, tier-1
texts); `api` and `reports` use it; `ingest`, `stream` and `alerts` never import it. Alerts and
tasks must never disagree, so the program follows alert events (the `alert_events` table)
instead of the alert writer calling into the program.

A pure core and thin adapters (CONVENTIONS 1, 10). Public surface:

- `records` (pure): `Record`, `Condition` (ICD-10 / SNOMED CT), `Medication` (with local-time
  schedule), `as_of` for versioned rows.
- `plans` (pure): `PlanItem`, `Frequency`, `TEMPLATES` (per-condition, with sources),
  `template_for(system, code)`, `DEFAULT_GRACE_S`, `FollowUpCalls`.
- `slots` (pure): when an item or a dose is due, in the patient's time zone (DST included).
- `adherence` (pure): `item_counts`, `per_item`, `per_medication`, `billing` (CMS 99454
  16-of-30 days), `data_days`.
- `stopped` (pure): the plan-aware "stopped measuring" rule (`check`, `RULE_ID`).
- `reminders`, `advice` (pure): scheduled tier-1 messages, quiet hours, opt-out, texts.
- `repository` (adapter): all record, plan, answer and adherence SQL (migration 0008).
- `scheduler`, `scheduler_store` (adapter): the running system's scheduler task.

- `risk` (pure): `Tag`, `Tier`, `RULES` (each tag a cited rule), `assess`, `is_rise_to_high`.
- `risk_store`, `recompute` (adapter): set-based figures, stored risk and history, review tasks;
  `risk_loop` is the running system's periodic pass (migration 0009).
- `tasks` (pure): `TaskKind`, `Completion` (the follow-up record), `follow_up_dues`.
- `task_store`, `follow_up` (adapter): tasks, follow-up records, `complete` (a callback resolves
  its alert in the same transaction; the alert leads, trigger `program_follow_alert`).
- `enrolment` (adapter): enrolment from a home kit (`KITS`), used by `vigil enrol-demo`.
"""
