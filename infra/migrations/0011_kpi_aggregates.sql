-- 0011: the daily per-patient aggregate of readings that program KPIs read (issue 13, part 2).
--
-- `readings_daily` has one row per (UTC day, patient, metric, device): the count, the sum of
-- values (means), and the glucose range counts (70-180 mg/dL inclusive; below 70). The KPI
-- queries (reports/kpi_queries.py) read only this relation for readings, so they give the same
-- numbers in both storage modes:
--
-- - timescaledb: a continuous aggregate over the `readings` hypertable, real-time (recent,
--   not yet materialised days are read from `readings` at query time). Vigil refreshes it
--   itself with refresh_continuous_aggregate (reports.kpi_queries.refresh), as in plain mode,
--   rather than with a background policy (DESIGN 7: background jobs fail on PG 15.20 with
--   TimescaleDB 2.28); its invalidation log brings late readings for old days in.
-- - plain: an ordinary table refreshed incrementally by the same function: the (patient, day)
--   pairs with readings stored since the last refresh (`kpi_refresh_marks`, by the database's
--   `stored_at`, overlapping the previous mark by a few minutes for sink transactions still in
--   flight) are recomputed from `readings` and upserted. A late reading for an old day is
--   stored late, so its day is recomputed by the next refresh.

DO $$
BEGIN
    IF current_setting('vigil.mode') = 'timescaledb' THEN
        EXECUTE $cagg$
            CREATE MATERIALIZED VIEW readings_daily
            WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
            SELECT time_bucket(INTERVAL '1 day', time) AS day, patient_id, metric, device_id,
                   count(*) AS n,
                   sum(value) AS sum_value,
                   sum(CASE WHEN value >= 70 AND value <= 180 THEN 1 ELSE 0 END) AS n_tir,
                   sum(CASE WHEN value < 70 THEN 1 ELSE 0 END) AS n_tbr
            FROM readings
            GROUP BY time_bucket(INTERVAL '1 day', time), patient_id, metric, device_id
            WITH NO DATA
        $cagg$;
        CREATE INDEX readings_daily_patient_day ON readings_daily (patient_id, day);
    ELSE
        CREATE TABLE readings_daily (
            day        timestamptz      NOT NULL,  -- UTC midnight
            patient_id text             NOT NULL,
            metric     text             NOT NULL,
            device_id  text             NOT NULL,
            n          bigint           NOT NULL,
            sum_value  double precision NOT NULL,
            n_tir      bigint           NOT NULL,
            n_tbr      bigint           NOT NULL,
            PRIMARY KEY (patient_id, day, metric, device_id)
        );
    END IF;
END $$;

-- When each refresher last ran: `stored_after` is the database clock at its start (plain mode
-- recomputes the days of readings stored after it, minus an overlap, next time).
CREATE TABLE kpi_refresh_marks (
    name         text PRIMARY KEY,
    stored_after timestamptz NOT NULL,
    at           timestamptz NOT NULL
);
