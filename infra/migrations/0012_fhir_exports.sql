-- 0012: FHIR bulk export jobs (issue 13). One row per `$export` request; the NDJSON files live
-- under the state directory (`<state_dir>/fhir-exports/<id>/`), never in the database: a team's
-- export is a full copy of its PHI, and keeping it out of the tables keeps it out of WAL,
-- replicas and database backups. Rows and files are removed once `expires_at` has passed.

CREATE TABLE fhir_export_jobs (
    id           uuid PRIMARY KEY,
    team_id      text        NOT NULL REFERENCES care_teams (id) ON DELETE CASCADE,
    requested_by text        NOT NULL,
    requested_at timestamptz NOT NULL,
    status       text        NOT NULL CHECK (status IN ('running', 'completed', 'failed')),
    finished_at  timestamptz,
    expires_at   timestamptz NOT NULL,
    output       jsonb       NOT NULL DEFAULT '[]',  -- [{"type": "Observation", "count": n}, ...]
    error        text,                               -- a class name, never a message (PHI)
    CHECK ((status = 'running') = (finished_at IS NULL))
);
CREATE INDEX fhir_export_jobs_expiry ON fhir_export_jobs (expires_at);
