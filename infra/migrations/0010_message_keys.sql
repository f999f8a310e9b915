-- 0010: one natural key per device message, whatever its shape (issue 14, finding 5).
--
-- `readings` is keyed (device_id, seq, metric, time): `time` must be in every unique index of a
-- hypertable. So a message whose measurement time differs between copies (a SenML pack with
-- times relative to receipt, resent later; a seq reused with another timestamp) got a second
-- set of rows. `reading_messages` holds (device_id, seq) once per stored message, with the
-- fingerprint of its content as sent (the readings, and the time as sent: the instant, or the
-- offset of a relative SenML time). The sink claims a message's key before storing its
-- readings: a copy with the same fingerprint is a duplicate and stores nothing; a copy with
-- another fingerprint is refused as `seq_reused`. It is an ordinary table in both storage modes
-- (one row per message, a third of the readings' rows or fewer), and it is also the
-- database's record of which seqs are stored, from which the ingest restarts its device acks.
CREATE TABLE reading_messages (
    device_id   text        NOT NULL,
    seq         bigint      NOT NULL,
    time        timestamptz NOT NULL,  -- the measurement time its readings were stored with
    fingerprint bytea,                 -- NULL for messages stored before 0010: copies are duplicates
    stored_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (device_id, seq)
);

-- Messages stored before this migration keep their key (the earliest of their times).
INSERT INTO reading_messages (device_id, seq, time)
SELECT device_id, seq, min(time) FROM readings GROUP BY device_id, seq;

-- The acks read back "which seqs of this device are handled" from both tables at start.
CREATE INDEX rejected_readings_device_seq ON rejected_readings (device_id, seq)
    WHERE seq IS NOT NULL;
