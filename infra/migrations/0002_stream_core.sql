-- 0002: what the stream core needs: late flags, every detection, per-patient overrides.

-- A reading that arrived behind its stream's watermark (beyond the allowed lateness): stored,
-- flagged, and never used to page retroactively.
ALTER TABLE readings ADD COLUMN late boolean NOT NULL DEFAULT false;

-- Every detection the rules produced, by deterministic id (replays and the other runner
-- produce the same ids, so the runners can be compared row for row).
CREATE TABLE detections (
    id           uuid PRIMARY KEY,
    patient_id   text             NOT NULL,
    rule_id      text             NOT NULL,
    kind         text             NOT NULL CHECK (kind IN ('fired', 'cleared')),
    severity     text             NOT NULL,
    late         boolean          NOT NULL,
    device_id    text             NOT NULL,
    seq          bigint           NOT NULL,
    metric       text             NOT NULL,
    value        double precision NOT NULL,
    unit         text             NOT NULL,
    measured_at  timestamptz      NOT NULL,
    details      jsonb            NOT NULL DEFAULT '{}',
    rule_version text             NOT NULL,
    -- the wall-clock moment of the insert (not the transaction start): latency measurements
    created_at   timestamptz      NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX detections_patient ON detections (patient_id, measured_at DESC);

-- Per-patient threshold overrides, versioned: a change is a new row, never an update.
CREATE TABLE threshold_overrides (
    patient_id text        NOT NULL REFERENCES patients (id),
    rule_id    text        NOT NULL,
    version    integer     NOT NULL CHECK (version >= 1),
    params     jsonb       NOT NULL,
    reason     text        NOT NULL,
    changed_by text        NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (patient_id, rule_id, version)
);

CREATE FUNCTION notify_override_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('vigil_overrides', NEW.patient_id);
    RETURN NULL;
END $$;
CREATE TRIGGER threshold_overrides_notify AFTER INSERT ON threshold_overrides
    FOR EACH ROW EXECUTE FUNCTION notify_override_change();

-- Alerts learn that their condition cleared (hysteresis) and whether a finding was late.
ALTER TABLE alerts ADD COLUMN condition_cleared_at timestamptz;

-- The embedded runner's operator state, snapshotted periodically and at shutdown, so that
-- windows and baselines survive a restart (the Faust runner keeps its state in a changelog).
CREATE TABLE stream_states (
    patient_id text        PRIMARY KEY,
    state      bytea       NOT NULL,
    saved_at   timestamptz NOT NULL DEFAULT now()
);

-- "svc-" names service accounts on the broker; no device may take one.
ALTER TABLE devices ADD CONSTRAINT devices_not_a_service_account CHECK (id NOT LIKE 'svc-%');

-- A refused payload redelivered (the ingest restarted before its PUBACK went out) or retried
-- (the hand-off of its batch failed) is stored once: the same bytes refused for the same reason.
ALTER TABLE rejected_readings ADD COLUMN payload_sha256 bytea;
UPDATE rejected_readings SET payload_sha256 = sha256(payload);
ALTER TABLE rejected_readings ALTER COLUMN payload_sha256 SET NOT NULL;
CREATE UNIQUE INDEX rejected_readings_once ON rejected_readings
    (topic, payload_sha256, reason, COALESCE(seq, -1), COALESCE(metric, ''));
