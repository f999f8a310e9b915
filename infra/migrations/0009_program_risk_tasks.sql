-- 0009: the care program's risk tiers and tags, follow-up tasks and follow-up records (program/).
-- Plain PostgreSQL; nothing here needs TimescaleDB.

-- Risk ---------------------------------------------------------------------------------------

-- Each patient's current tier and the tags that say why (program.risk), with the figures the
-- rules read, so a nurse sees the numbers behind a tag.
CREATE TABLE patient_risk (
    patient_id  text PRIMARY KEY REFERENCES patients (id) ON DELETE CASCADE,
    tier        text        NOT NULL CHECK (tier IN ('low', 'medium', 'high')),
    tags        text[]      NOT NULL DEFAULT '{}',
    figures     jsonb       NOT NULL DEFAULT '{}',
    tier_since  timestamptz NOT NULL,
    computed_at timestamptz NOT NULL
);
CREATE INDEX patient_risk_tier ON patient_risk (tier);
CREATE INDEX patient_risk_tags ON patient_risk USING gin (tags);

-- Every change of tier or tags, for "what was the risk on that day".
CREATE TABLE risk_history (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    patient_id    text        NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    at            timestamptz NOT NULL,
    tier          text        NOT NULL,
    previous_tier text,
    tags          text[]      NOT NULL
);
CREATE INDEX risk_history_patient ON risk_history (patient_id, at DESC);

-- Where the incremental recompute stopped: readings stored and alert events after these marks
-- name the patients to recompute next.
CREATE TABLE risk_passes (
    name           text PRIMARY KEY,
    readings_after timestamptz NOT NULL,
    events_after   bigint      NOT NULL,
    at             timestamptz NOT NULL
);

-- Finds readings stored since the last pass without a B-tree on the hot path: BRIN costs
-- almost nothing to maintain, and `stored_at` grows with insertion order.
CREATE INDEX readings_stored_brin ON readings USING brin (stored_at);

-- Tasks --------------------------------------------------------------------------------------

-- Work with a due time and an owner: the doctor's tier-3 callback, nurse follow-up calls from
-- the plan, and review tasks when a patient's risk rises to high. `owner` NULL: anyone of
-- `owner_role` on the patient's team.
CREATE TABLE care_tasks (
    id           uuid PRIMARY KEY,
    patient_id   text        NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    team_id      text        NOT NULL REFERENCES care_teams (id),
    kind         text        NOT NULL CHECK (kind IN ('callback', 'follow_up_call', 'risk_review')),
    owner_role   text        NOT NULL CHECK (owner_role IN ('nurse', 'doctor')),
    owner        text REFERENCES staff (id) ON DELETE SET NULL,
    due_at       timestamptz NOT NULL,
    status       text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done', 'cancelled')),
    alert_id     uuid REFERENCES alerts (id),
    reason       text        NOT NULL DEFAULT '',
    attempts     integer     NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL,
    created_by   text        NOT NULL,
    completed_at timestamptz,
    completed_by text,
    outcome      text CHECK (outcome IS NULL OR outcome IN (
        'reached', 'not_reached', 'visit_booked', 'closed_with_alert')),
    CHECK ((kind = 'callback') = (alert_id IS NOT NULL))
);
CREATE UNIQUE INDEX care_tasks_one_callback ON care_tasks (alert_id) WHERE kind = 'callback';
CREATE UNIQUE INDEX care_tasks_one_open_review ON care_tasks (patient_id)
    WHERE kind = 'risk_review' AND status = 'open';
CREATE INDEX care_tasks_open ON care_tasks (team_id, due_at) WHERE status = 'open';
CREATE INDEX care_tasks_patient ON care_tasks (patient_id, due_at DESC);

-- What a contact found and decided: one row per completed task or per attempt.
CREATE TABLE follow_up_records (
    id                 uuid PRIMARY KEY,
    task_id            uuid REFERENCES care_tasks (id) ON DELETE SET NULL,
    patient_id         text        NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    at                 timestamptz NOT NULL,
    recorded_by        text        NOT NULL,
    contact_type       text        NOT NULL CHECK (contact_type IN (
        'phone', 'video', 'visit', 'message', 'none')),
    outcome            text        NOT NULL CHECK (outcome IN (
        'reached', 'not_reached', 'visit_booked', 'closed_with_alert')),
    symptoms           text        NOT NULL DEFAULT '',
    medication_changes text        NOT NULL DEFAULT '',
    advice_given       text        NOT NULL DEFAULT '',
    note               text        NOT NULL DEFAULT '',
    visit_at           timestamptz,
    visit_place        text,
    next_contact_at    timestamptz
);
CREATE INDEX follow_up_records_patient ON follow_up_records (patient_id, at DESC);

-- Alerts and tasks never disagree, and the alert leads (README "Tasks and follow-up records").
-- One place, in the transaction that writes the alert event, whoever writes it:
-- - an event that leaves an unresolved alert at tier 3 opens its callback task for the
--   patient's responsible doctor (once per alert), due like the tier-3 resolution clock
--   (DESIGN 5: one hour for a critical alert, 48 h otherwise);
-- - an event of a resolved alert closes its open callback task: 'callback_done' -> reached,
--   'visit_booked' -> visit booked, any other outcome -> closed with the alert; a follow-up
--   record with the resolution's note (and a booked visit's date and place) is written for it (the task endpoint adds its details).
CREATE FUNCTION program_follow_alert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    a alerts%ROWTYPE;
    task_id uuid;
    result text;
BEGIN
    SELECT * INTO a FROM alerts WHERE id = NEW.alert_id;
    IF a.status <> 'resolved' AND NEW.tier = 3 THEN
        INSERT INTO care_tasks (id, patient_id, team_id, kind, owner_role, owner, due_at,
                                alert_id, reason, created_at, created_by)
        SELECT md5('callback|' || a.id::text)::uuid, p.id, p.team_id, 'callback', 'doctor',
               p.responsible_doctor,
               NEW.at + CASE WHEN a.severity = 'critical' THEN interval '1 hour'
                             ELSE interval '48 hours' END,
               a.id, a.title, NEW.at, 'system'
        FROM patients p WHERE p.id = a.patient_id
        ON CONFLICT DO NOTHING
        RETURNING id INTO task_id;
        IF task_id IS NOT NULL THEN
            INSERT INTO audit_log (at, actor, role, action, resource, patient_id, detail)
            VALUES (NEW.at, 'system', 'system', 'create', 'task', a.patient_id,
                    jsonb_build_object('task_id', task_id, 'kind', 'callback'));
        END IF;
    ELSIF a.status = 'resolved' THEN
        result := CASE a.outcome WHEN 'callback_done' THEN 'reached'
                                 WHEN 'visit_booked' THEN 'visit_booked'
                                 ELSE 'closed_with_alert' END;
        UPDATE care_tasks SET status = CASE WHEN result = 'closed_with_alert' THEN 'cancelled'
                                            ELSE 'done' END,
                              outcome = result, completed_at = a.resolved_at,
                              completed_by = COALESCE(a.resolved_by, 'system')
        WHERE alert_id = a.id AND kind = 'callback' AND status = 'open'
        RETURNING id INTO task_id;
        IF task_id IS NOT NULL THEN
            INSERT INTO follow_up_records (id, task_id, patient_id, at, recorded_by, contact_type,
                                           outcome, note, visit_at, visit_place)
            VALUES (md5('record|' || task_id::text)::uuid, task_id, a.patient_id,
                    COALESCE(a.resolved_at, NEW.at), COALESCE(a.resolved_by, 'system'),
                    CASE WHEN result = 'closed_with_alert' THEN 'none' ELSE 'phone' END, result,
                    COALESCE(NEW.payload->>'note', ''),
                    (NEW.payload->>'visit_at')::timestamptz, NEW.payload->>'visit_place')
            ON CONFLICT (id) DO NOTHING;
            INSERT INTO audit_log (at, actor, role, action, resource, patient_id, detail)
            VALUES (NEW.at, COALESCE(a.resolved_by, 'system'), 'system', 'complete', 'task',
                    a.patient_id, jsonb_build_object('task_id', task_id, 'outcome', result));
        END IF;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER alert_events_program AFTER INSERT ON alert_events
    FOR EACH ROW EXECUTE FUNCTION program_follow_alert();
