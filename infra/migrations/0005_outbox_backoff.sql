-- 0005: the tier-1 outbox keeps its retry backoff in the row (alerts.outbox, alerts.delivery), so
-- a restarted sender neither resends a message early nor forgets how often it failed.
--
-- `failures`: delivery rounds that failed (any reason, `no_bound_device` included; `attempts`
-- counts only the rounds that reached the broker). `next_attempt_at`: not to be claimed before
-- this time; NULL: due (never failed, or released when one of the patient's devices was bound).
ALTER TABLE patient_messages
    ADD COLUMN failures        integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
    ADD COLUMN next_attempt_at timestamptz;

-- The sender's wake-up: the earliest retry still ahead among the unsent messages.
CREATE INDEX patient_messages_retry ON patient_messages (next_attempt_at) WHERE sent_at IS NULL;
