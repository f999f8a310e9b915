-- 0001: the core schema. Applied by `vigil db migrate` in one transaction.
--
-- Works on plain PostgreSQL (>= 14) and, when the session variable vigil.mode is 'timescaledb'
-- (set by the migration runner when the extension is installed in this database), turns
-- `readings` into a hypertable. Times are timestamptz; ids that devices or people type are text.

CREATE EXTENSION IF NOT EXISTS btree_gist;  -- trusted: the exclusion constraint on bindings

CREATE TABLE vigil_meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);

-- People and teams -----------------------------------------------------------------------------

CREATE TABLE care_teams (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    tz         text NOT NULL DEFAULT 'UTC',
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE staff (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    role       text NOT NULL CHECK (role IN ('nurse', 'doctor', 'admin')),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE staff_teams (
    staff_id text NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    team_id  text NOT NULL REFERENCES care_teams (id) ON DELETE CASCADE,
    PRIMARY KEY (staff_id, team_id)
);

CREATE TABLE patients (
    id           text PRIMARY KEY,
    team_id      text NOT NULL REFERENCES care_teams (id),
    display_name text NOT NULL,
    tz           text NOT NULL DEFAULT 'UTC',
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX patients_team ON patients (team_id);

-- Bearer tokens for staff (API and websocket); only a SHA-256 of the token is stored.
CREATE TABLE api_tokens (
    token_sha256 bytea PRIMARY KEY,
    staff_id     text NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    expires_at   timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- Devices and who they measure -----------------------------------------------------------------

CREATE TABLE devices (
    id                 text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    kind               text NOT NULL,       -- bp_cuff, glucometer, cgm, wearable, scale, ...
    expected_cadence_s integer CHECK (expected_cadence_s > 0),
    created_at         timestamptz NOT NULL DEFAULT now()
);

-- A device measures one patient at a time; bindings never overlap for a device. Readings are
-- attributed with the binding valid at measurement time, so a re-assigned device's backlog still
-- lands on the right patient.
CREATE TABLE device_bindings (
    device_id  text NOT NULL REFERENCES devices (id),
    patient_id text NOT NULL REFERENCES patients (id),
    valid_from timestamptz NOT NULL,
    valid_to   timestamptz,
    reason     text NOT NULL DEFAULT '',
    changed_by text NOT NULL DEFAULT 'system',
    changed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (device_id, valid_from),
    CHECK (valid_to IS NULL OR valid_to > valid_from),
    EXCLUDE USING gist (device_id WITH =, tstzrange(valid_from, valid_to) WITH &&)
);

-- Tells ingest processes to refresh their binding cache (payload: the device id).
CREATE FUNCTION notify_binding_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('vigil_bindings', COALESCE(NEW.device_id, OLD.device_id));
    RETURN NULL;
END $$;
CREATE TRIGGER device_bindings_notify AFTER INSERT OR UPDATE OR DELETE ON device_bindings
    FOR EACH ROW EXECUTE FUNCTION notify_binding_change();

-- Readings -----------------------------------------------------------------------------------

-- One row per measurement, in the metric's canonical unit with the original kept. The natural
-- key is (device_id, seq, metric) plus the partitioning column `time` (measurement time), so
-- every redelivery is an ON CONFLICT DO NOTHING.
CREATE TABLE readings (
    time        timestamptz      NOT NULL,
    device_id   text             NOT NULL,
    seq         bigint           NOT NULL,
    metric      text             NOT NULL,
    patient_id  text             NOT NULL,
    value       double precision NOT NULL,
    unit        text             NOT NULL,
    orig_value  double precision NOT NULL,
    orig_unit   text             NOT NULL,
    received_at timestamptz      NOT NULL,
    stored_at   timestamptz      NOT NULL DEFAULT now(),
    context     jsonb,
    PRIMARY KEY (device_id, seq, metric, time)
);
CREATE INDEX readings_patient_metric_time ON readings (patient_id, metric, time DESC);

-- Payloads and readings that were refused, with the reason; unbound devices' readings are kept
-- here too ('unbound_device'), with the payload, so they can be replayed once bound.
CREATE TABLE rejected_readings (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at   timestamptz NOT NULL,
    topic         text        NOT NULL,
    device_id     text,
    seq           bigint,
    metric        text,
    reason        text        NOT NULL,
    detail        text        NOT NULL,
    payload       bytea       NOT NULL,  -- at most the first 64 KiB
    payload_bytes integer     NOT NULL,
    stored_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rejected_readings_received ON rejected_readings (received_at DESC);
CREATE INDEX rejected_readings_device ON rejected_readings (device_id, received_at DESC);

-- Alerts -------------------------------------------------------------------------------------

-- An alert is an episode: at most one open (not resolved) alert per (patient, rule). Ids are
-- deterministic (derived from the detection that opened it), so replays are harmless.
CREATE TABLE alerts (
    id            uuid PRIMARY KEY,
    patient_id    text             NOT NULL REFERENCES patients (id),
    rule_id       text             NOT NULL,
    title         text             NOT NULL,
    severity      text             NOT NULL CHECK (severity IN ('info', 'moderate', 'high', 'critical')),
    status        text             NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved')),
    metric        text             NOT NULL,
    unit          text             NOT NULL,
    worse         text             NOT NULL CHECK (worse IN ('higher', 'lower')),
    first_value   double precision NOT NULL,
    last_value    double precision NOT NULL,
    worst_value   double precision NOT NULL,
    count         integer          NOT NULL DEFAULT 1 CHECK (count >= 1),
    opened_at     timestamptz      NOT NULL,  -- measurement time of the opening reading
    last_seen_at  timestamptz      NOT NULL,  -- measurement time of the latest reading
    updated_at    timestamptz      NOT NULL DEFAULT now(),
    resolved_at   timestamptz,
    outcome       text
);
CREATE UNIQUE INDEX alerts_one_open_episode ON alerts (patient_id, rule_id) WHERE status <> 'resolved';
CREATE INDEX alerts_patient ON alerts (patient_id, opened_at DESC);

-- The audit trail and the live feed: every change to an alert is an event. `seq` orders the
-- feed; writers take an advisory lock before inserting so that seq order is commit order and a
-- client resuming "after seq N" can never miss a later-committed smaller seq.
CREATE TABLE alert_events (
    seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id   uuid        NOT NULL UNIQUE,
    alert_id   uuid        NOT NULL REFERENCES alerts (id),
    patient_id text        NOT NULL,
    kind       text        NOT NULL,
    at         timestamptz NOT NULL,  -- when it happened (measurement time for detections)
    payload    jsonb       NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alert_events_alert ON alert_events (alert_id, seq);

-- Problems with devices or with the pipeline itself (not with a patient): one open row per
-- (kind, subject); repeats bump the count.
CREATE TABLE technical_alerts (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind         text        NOT NULL,
    subject      text        NOT NULL,
    detail       text        NOT NULL,
    status       text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
    count        integer     NOT NULL DEFAULT 1,
    opened_at    timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    resolved_at  timestamptz
);
CREATE UNIQUE INDEX technical_alerts_one_open ON technical_alerts (kind, subject) WHERE status = 'open';

-- Storage mode -------------------------------------------------------------------------------

INSERT INTO vigil_meta (key, value) VALUES ('storage_mode', current_setting('vigil.mode'));

DO $$
BEGIN
    IF current_setting('vigil.mode') = 'timescaledb' THEN
        PERFORM create_hypertable('readings', by_range('time', INTERVAL '7 days'));
    END IF;
END $$;
