-- Staff sign in as people (issue 10): a login name and an argon2 password hash per staff member,
-- their language and time zone, the lockout counters, and server-side sessions referenced by a
-- cookie. Plain PostgreSQL; nothing here needs TimescaleDB.

ALTER TABLE staff
    ADD COLUMN login           text CHECK (login ~ '^[a-z0-9][a-z0-9._-]{0,63}$'),
    ADD COLUMN password_hash   text,               -- argon2 (PHC string); NULL: cannot sign in
    ADD COLUMN disabled_at     timestamptz,        -- set: no sign-in, no session, no token
    ADD COLUMN locale          text NOT NULL DEFAULT 'en' CHECK (locale IN ('en', 'zh-CN')),
    ADD COLUMN time_zone       text NOT NULL DEFAULT 'Asia/Shanghai',  -- IANA name
    ADD COLUMN failed_attempts integer NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0),
    ADD COLUMN lockouts        integer NOT NULL DEFAULT 0 CHECK (lockouts >= 0),
    ADD COLUMN locked_until    timestamptz;

CREATE UNIQUE INDEX staff_login ON staff (login);

-- Existing staff take the time zone of their (first) care team.
UPDATE staff s
   SET time_zone = t.tz
  FROM (SELECT DISTINCT ON (st.staff_id) st.staff_id, ct.tz
          FROM staff_teams st JOIN care_teams ct ON ct.id = st.team_id
         ORDER BY st.staff_id, st.team_id) t
 WHERE t.staff_id = s.id;

-- One row per sign-in. The cookie carries a random session id; only its SHA-256 is stored.
CREATE TABLE staff_sessions (
    id_sha256    bytea PRIMARY KEY,
    staff_id     text        NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    csrf_token   text        NOT NULL,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,  -- absolute: no activity extends it
    ended_at     timestamptz,
    ended_reason text CHECK (ended_reason IN
                     ('signed_out', 'idle', 'expired', 'disabled', 'password_changed')),
    CHECK ((ended_at IS NULL) = (ended_reason IS NULL)),
    CHECK (expires_at > created_at)
);
CREATE INDEX staff_sessions_open ON staff_sessions (staff_id) WHERE ended_at IS NULL;
