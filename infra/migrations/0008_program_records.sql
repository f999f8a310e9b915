-- 0008: the care program's record, plans and answers (DESIGN 11; issue 11 parts 1-4).
--
-- Plain PostgreSQL. What a clinician asks "what was it on that day" about (conditions,
-- medications, plan items) is versioned: a change closes the row in force (`valid_to`) and
-- inserts a new one; rows are never edited otherwise. A stable key (`medication_key`,
-- `item_key`) follows one medication or plan item across its versions.

-- The record: one row per patient, edited in place (each change is in the audit log).
-- `responsible_doctor` stays on `patients` (0003); the nurse is the "health manager".
CREATE TABLE patient_records (
    patient_id         text PRIMARY KEY REFERENCES patients (id) ON DELETE CASCADE,
    birth_date         date,
    sex                text CHECK (sex IN ('female', 'male', 'other', 'unknown')),
    phone              text CHECK (phone ~ '^\+?[0-9 ()-]{3,32}$'),
    responsible_nurse  text REFERENCES staff (id),
    enrolled_on        date,
    discharged_on      date,
    consent_at         timestamptz,
    consent_scope      text[] NOT NULL DEFAULT '{}',
    -- tier-1 scheduled messages: opt-out and quiet hours in the patient's own clock
    reminders_opt_out  boolean NOT NULL DEFAULT false,
    quiet_start        time NOT NULL DEFAULT '22:00',
    quiet_end          time NOT NULL DEFAULT '07:00',
    updated_at         timestamptz NOT NULL DEFAULT now(),
    updated_by         text NOT NULL DEFAULT 'system',
    CHECK (discharged_on IS NULL OR enrolled_on IS NULL OR discharged_on >= enrolled_on)
);

CREATE TABLE patient_conditions (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    patient_id text NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    system     text NOT NULL CHECK (system IN ('icd10', 'snomed')),
    code       text NOT NULL CHECK (length(code) BETWEEN 1 AND 32),
    display    text NOT NULL,
    valid_from timestamptz NOT NULL,
    valid_to   timestamptz,
    changed_by text NOT NULL,
    CHECK (valid_to IS NULL OR valid_to > valid_from)
);
CREATE UNIQUE INDEX patient_conditions_current
    ON patient_conditions (patient_id, system, code) WHERE valid_to IS NULL;

-- A medication and its schedule: local times of day in the patient's time zone.
CREATE TABLE patient_medications (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    patient_id     text NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    medication_key text NOT NULL,
    name           text NOT NULL,
    dose           text NOT NULL,
    times          time[] NOT NULL DEFAULT '{}',
    valid_from     timestamptz NOT NULL,
    valid_to       timestamptz,
    changed_by     text NOT NULL,
    reason         text NOT NULL DEFAULT '',
    CHECK (valid_to IS NULL OR valid_to > valid_from)
);
CREATE UNIQUE INDEX patient_medications_current
    ON patient_medications (patient_id, medication_key) WHERE valid_to IS NULL;
CREATE INDEX patient_medications_patient ON patient_medications (patient_id, valid_from);

-- A measurement plan item (program.plans): metrics, how often, when, and the grace period
-- after which a missed item goes to the nurse.
CREATE TABLE plan_items (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    patient_id  text NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    item_key    text NOT NULL,
    metrics     text[] NOT NULL CHECK (cardinality(metrics) > 0),
    frequency   text NOT NULL CHECK (frequency IN ('times_per_day', 'daily', 'weekly', 'continuous')),
    local_times time[] NOT NULL DEFAULT '{}',
    weekday     smallint CHECK (weekday BETWEEN 0 AND 6),  -- weekly items: 0 = Monday
    grace_s     integer NOT NULL CHECK (grace_s > 0),
    template    text NOT NULL DEFAULT '',                    -- the template it came from
    valid_from  timestamptz NOT NULL,
    valid_to    timestamptz,
    changed_by  text NOT NULL,
    CHECK (valid_to IS NULL OR valid_to > valid_from)
);
CREATE UNIQUE INDEX plan_items_current ON plan_items (patient_id, item_key) WHERE valid_to IS NULL;
CREATE INDEX plan_items_patient ON plan_items (patient_id, valid_from);

-- The patient's answers to reminders: "taken" (a medication dose) and "measured" (a plan slot).
-- One answer per (patient, kind, key, slot): a resent answer changes nothing.
CREATE TABLE patient_answers (
    patient_id  text NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('taken', 'measured')),
    ref_key     text NOT NULL,         -- medication_key or item_key
    slot_at     timestamptz NOT NULL,  -- the scheduled time answered
    answered_at timestamptz NOT NULL,
    via         text NOT NULL,         -- 'patient' or 'device:<id>'
    PRIMARY KEY (patient_id, kind, ref_key, slot_at)
);

-- Scheduled tier-1 messages have no alert; their ids are deterministic (program.reminders), so
-- a scheduler that restarts or runs twice writes each message once. `ref_key` and `slot_at` say
-- what a reminder was for (a medication or plan item and its scheduled time): the patient's
-- "taken" / "measured" answer to the message is recorded against them.
ALTER TABLE patient_messages
    ADD COLUMN ref_key text,
    ADD COLUMN slot_at timestamptz;
-- (a patient's messages, newest first, are indexed by 0007: patient_messages_patient)
