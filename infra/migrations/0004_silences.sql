-- 0004: silences (DESIGN 5): for a patient, one rule or all of them, for a stretch of time, with a
-- reason. An alert opened under a silence waits un-notified until the silence ends; an alert
-- raised by a value dangerous on its own ignores silences.
CREATE TABLE silences (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    patient_id text        NOT NULL REFERENCES patients (id),
    rule_id    text,        -- NULL: every rule of the patient
    starts_at  timestamptz NOT NULL,
    ends_at    timestamptz NOT NULL CHECK (ends_at > starts_at),
    reason     text        NOT NULL CHECK (reason <> ''),
    created_by text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX silences_patient ON silences (patient_id, ends_at);
