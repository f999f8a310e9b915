-- 0001a, a repair (infra/migrations/README.md): runs before 0002 on a database still at 0001, and
-- out of order, doing nothing, on a database that applied 0002 before this file existed.
--
-- Before 0002, a refused payload redelivered (the ingest restarted before its PUBACK went out)
-- or retried was stored again, so a database at 0001 can hold the same refusal several times;
-- 0002's unique index rejected_readings_once then fails and the database cannot be upgraded.
-- Keep the first copy (lowest id) of each (topic, payload, reason, seq, metric), the key of that
-- index, and delete the later copies: they carry the same bytes refused for the same reason,
-- which is what 0002 and later store once. The number removed is RAISEd as a WARNING, which
-- `vigil db migrate` logs.
DO $$
DECLARE
    removed bigint;
BEGIN
    IF to_regclass('rejected_readings_once') IS NOT NULL THEN
        RETURN;  -- 0002 is applied: its index has kept duplicates out
    END IF;
    DELETE FROM rejected_readings
     WHERE id IN (
        SELECT id
          FROM (SELECT id, row_number() OVER (
                           PARTITION BY topic, sha256(payload), reason,
                                        COALESCE(seq, -1), COALESCE(metric, '')
                           ORDER BY id) AS copy
                  FROM rejected_readings) copies
         WHERE copy > 1);
    GET DIAGNOSTICS removed = ROW_COUNT;
    IF removed > 0 THEN
        RAISE WARNING 'removed % duplicate rejected readings (the first copy of each is kept)',
            removed;
    END IF;
END $$;
