-- 0003: the three-tier response (DESIGN 5, 6): escalation state on alerts, rosters, pages,
-- the tier-1 outbox, role tokens for patients and devices, and the audit log.

-- Patients: who answers at tier 3 and which language tier-1 messages are written in.
ALTER TABLE patients
    ADD COLUMN responsible_doctor text REFERENCES staff (id),
    ADD COLUMN lang text NOT NULL DEFAULT 'en' CHECK (lang IN ('en', 'zh'));

-- A care team's escalation clocks, overriding the defaults per severity and tier (seconds):
-- {"critical": {"2": {"ack_s": 600, "resolve_s": 3600}}, ...}. NULL: the defaults of DESIGN 5.
ALTER TABLE care_teams ADD COLUMN escalation_policy jsonb;

-- Escalation state. `escalation` is the pure machine's state, the policy snapshot included
-- (alerts.escalation); `tier`, `due`, `deadline` and `fence` repeat what the timer and the feed
-- query. A deadline fires only if the row's fence still equals the timer's (checked under the
-- row lock), so a stale timer never moves an alert.
ALTER TABLE alerts
    ADD COLUMN tier            smallint NOT NULL DEFAULT 2 CHECK (tier BETWEEN 1 AND 3),
    ADD COLUMN due             text CHECK (due IN ('remeasure', 'ack', 'resolution')),
    ADD COLUMN deadline        timestamptz,
    ADD COLUMN fence           integer NOT NULL DEFAULT 0,
    ADD COLUMN escalation      jsonb,
    ADD COLUMN dangerous       boolean NOT NULL DEFAULT false,
    ADD COLUMN assigned_to     text REFERENCES staff (id),
    ADD COLUMN acknowledged_by text,
    ADD COLUMN acknowledged_at timestamptz,
    ADD COLUMN resolved_by     text,
    ADD COLUMN snoozed_until   timestamptz,
    ADD COLUMN snooze_reason   text,
    ADD CONSTRAINT alerts_outcome CHECK (outcome IS NULL OR outcome IN (
        'advice_given', 'medication_adjusted', 'callback_done', 'visit_booked', 'referred',
        'false_alarm', 'auto_resolved'));
CREATE INDEX alerts_deadline ON alerts (deadline) WHERE status <> 'resolved' AND deadline IS NOT NULL;
CREATE INDEX alerts_open_by_status ON alerts (status, opened_at DESC);

-- Who did it ('system' for the pipeline and timers) and the alert's tier after the event: the
-- websocket feed shows a nurse the events of alerts at tier 2 and above, a doctor tier 3.
ALTER TABLE alert_events
    ADD COLUMN actor text NOT NULL DEFAULT 'system',
    ADD COLUMN tier smallint NOT NULL DEFAULT 2;

-- Rosters -------------------------------------------------------------------------------------

-- Weekly shifts in the clock of `tz`; end_time <= start_time means the shift ends the next day.
CREATE TABLE roster_shifts (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    team_id    text     NOT NULL REFERENCES care_teams (id) ON DELETE CASCADE,
    staff_id   text     NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    role       text     NOT NULL CHECK (role IN ('nurse', 'doctor')),
    tz         text     NOT NULL,
    weekdays   smallint[] NOT NULL
               CHECK (cardinality(weekdays) > 0 AND weekdays <@ '{0,1,2,3,4,5,6}'::smallint[]),
    start_time time     NOT NULL,
    end_time   time     NOT NULL
);
CREATE INDEX roster_shifts_team ON roster_shifts (team_id);

-- One-off cover: adds someone for a stretch of time, optionally standing in for a scheduled one.
CREATE TABLE roster_overrides (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    team_id    text        NOT NULL REFERENCES care_teams (id) ON DELETE CASCADE,
    staff_id   text        NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    role       text        NOT NULL CHECK (role IN ('nurse', 'doctor')),
    starts_at  timestamptz NOT NULL,
    ends_at    timestamptz NOT NULL CHECK (ends_at > starts_at),
    replaces   text REFERENCES staff (id) ON DELETE SET NULL,
    reason     text        NOT NULL DEFAULT '',
    created_by text        NOT NULL DEFAULT 'system'
);
CREATE INDEX roster_overrides_team ON roster_overrides (team_id, ends_at);

CREATE TABLE roster_backups (
    team_id  text     NOT NULL REFERENCES care_teams (id) ON DELETE CASCADE,
    role     text     NOT NULL CHECK (role IN ('nurse', 'doctor')),
    position smallint NOT NULL,
    staff_id text     NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    PRIMARY KEY (team_id, role, position)
);

-- Who was paged for which alert, and whether anyone was (staff_id NULL: nobody reachable).
CREATE TABLE pages (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id uuid        NOT NULL REFERENCES alerts (id),
    tier     smallint    NOT NULL,
    staff_id text,
    backup   boolean     NOT NULL,
    fence    integer     NOT NULL,
    at       timestamptz NOT NULL
);
CREATE INDEX pages_alert ON pages (alert_id, id);
CREATE INDEX pages_staff ON pages (staff_id, at DESC);

-- Tier 1: messages to the patient, written in the alert's transaction and delivered over MQTT
-- by the outbox sender (to the patient's bound devices' `messages` topic). Ids are
-- deterministic (alert, fence, template), so a replayed transition writes nothing new.
CREATE TABLE patient_messages (
    id         uuid PRIMARY KEY,
    alert_id   uuid REFERENCES alerts (id),
    patient_id text        NOT NULL REFERENCES patients (id),
    template   text        NOT NULL,
    lang       text        NOT NULL,
    body       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    attempts   integer     NOT NULL DEFAULT 0,
    sent_at    timestamptz,
    sent_to    text[],
    last_error text
);
CREATE INDEX patient_messages_unsent ON patient_messages (created_at) WHERE sent_at IS NULL;

-- Tokens for every role: staff (nurse, doctor, admin), patients and devices; one subject each.
ALTER TABLE api_tokens
    ALTER COLUMN staff_id DROP NOT NULL,
    ADD COLUMN patient_id text REFERENCES patients (id) ON DELETE CASCADE,
    ADD COLUMN device_id text REFERENCES devices (id) ON DELETE CASCADE,
    ADD CONSTRAINT api_tokens_one_subject CHECK (num_nonnulls(staff_id, patient_id, device_id) = 1);

-- Every read of PHI and every alert action, by whom (DESIGN 6).
CREATE TABLE audit_log (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    actor      text        NOT NULL,
    role       text        NOT NULL,
    action     text        NOT NULL,
    resource   text        NOT NULL,
    patient_id text,
    detail     jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_patient ON audit_log (patient_id, at DESC);
CREATE INDEX audit_log_actor ON audit_log (actor, at DESC);
