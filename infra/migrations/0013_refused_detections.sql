-- 0013: detections the alert writer could not record (alerts/_refused.py). A detection that is
-- refused even on its own (an unknown patient, a constraint) is kept here whole, for inspection
-- and replay, and raises the technical alert `detection_unrecorded` for its patient, in the same
-- transaction as the rest of its batch. One row per detection: a redelivery adds nothing.

CREATE TABLE refused_detections (
    detection_id uuid        PRIMARY KEY,
    patient_id   text        NOT NULL,  -- no foreign key: an unknown patient is a reason to be here
    rule_id      text        NOT NULL,
    kind         text        NOT NULL CHECK (kind IN ('fired', 'cleared')),
    severity     text        NOT NULL,
    dangerous    boolean     NOT NULL,  -- a value dangerous on its own (DESIGN 5)
    detection    jsonb       NOT NULL,  -- every field of the detection (alerts._refused.as_json)
    reason       text        NOT NULL,  -- the error's class and SQLSTATE, never its text (PHI)
    refused_at   timestamptz NOT NULL
);
CREATE INDEX refused_detections_patient ON refused_detections (patient_id, refused_at);
