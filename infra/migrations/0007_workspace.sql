-- 0007: reads of the clinician workspace (issue 10).
--
-- The patient page lists the tier-1 messages sent to one patient, newest first; until now the
-- outbox was indexed only for the sender (unsent messages by age and retry time).
CREATE INDEX patient_messages_patient ON patient_messages (patient_id, created_at DESC);

-- The worklist reads the open alerts of some teams, most urgent first: a partial index keeps
-- that read proportional to the open alerts, however many resolved ones accumulate.
CREATE INDEX alerts_open_worklist ON alerts (severity, deadline) WHERE status <> 'resolved';
