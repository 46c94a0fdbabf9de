-- Rollup upkeep without hot rows (PostgreSQL).
--
-- Under migration 010 every write updated its keys' rollup rows in its own transaction. The
-- all-time row of a metric name is written by every workflow, so concurrent writers queued on
-- it (and on the advisory lock taken before it) until each one committed: at 32 calls in flight
-- the lifecycle lost a third of its throughput. Now a write only appends what it changes to a
-- pending table (no index, no conflict, no lock), and a fold moves the pending rows into the
-- rollups, aggregated per key, under the rollup lock:
--   - every statistics read folds first, so it never lags a committed write;
--   - each process on PostgreSQL folds about once a second (workflow_rollup_fold(false): skipped
--     while another fold runs) and when it closes, so the pending tables stay small;
--   - a write that subtracts from the rollups directly (a metric update or delete, the backfill,
--     a retention) folds first, in its transaction.
-- A read-only transaction (the readOnly option, a hot standby) cannot fold: the package's reads
-- there scan the raw rows while changes are pending.

CREATE TABLE workflow_metric_pending (
    metric_name VARCHAR(255) NOT NULL,
    metric_type VARCHAR(50),
    metric_category VARCHAR(100),
    metric_value DOUBLE PRECISION,
    recorded_at TIMESTAMPTZ
);

-- change: 1, the row counts under (workflow_id, status) from now on; -1, it no longer does;
-- 0, a cleanup that keeps the rollups removed it (it stays counted; its duration is a kept
-- extreme).
CREATE TABLE workflow_execution_pending (
    workflow_id VARCHAR(255) NOT NULL,
    status VARCHAR(50) NOT NULL,
    change SMALLINT NOT NULL,
    actual_duration BIGINT,
    estimated_duration BIGINT
);

-- Moves the pending rows into the rollups; returns how many it moved. With wait, blocks until
-- another fold (or a direct writer of rollups) commits; without, returns NULL instead. Returns
-- NULL in a read-only transaction too (nothing moved).
CREATE FUNCTION workflow_rollup_fold(wait BOOLEAN DEFAULT TRUE) RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE
    metrics BIGINT;
    executions BIGINT;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM workflow_metric_pending) AND NOT EXISTS (SELECT 1 FROM workflow_execution_pending) THEN
        RETURN 0;
    END IF;
    IF current_setting('transaction_read_only') = 'on' THEN
        RETURN NULL;
    END IF;
    IF wait THEN
        PERFORM pg_advisory_xact_lock(2050121001);
    ELSIF NOT pg_try_advisory_xact_lock(2050121001) THEN
        RETURN NULL;
    END IF;

    -- Metrics: what migration 010's trigger did for a statement's new rows, for all pending rows.
    WITH taken AS (
        DELETE FROM workflow_metric_pending RETURNING *
    ), levels AS (
        SELECT k.day, k.metric_name, k.type_key, k.category_key, n.metric_value AS v, n.recorded_at AS at
        FROM taken n, LATERAL workflow_metric_keys(n.metric_name, n.metric_type, n.metric_category, n.recorded_at) k
    ), shifted AS (
        SELECT *, min(v) OVER (PARTITION BY day, metric_name, type_key, category_key) AS k FROM levels
    ), bins AS (
        INSERT INTO workflow_metric_bins AS b (day, metric_name, type_key, category_key, bin, count)
        SELECT day, metric_name, type_key, category_key, workflow_sketch_bin(v), count(*)
        FROM levels WHERE v IS NOT NULL
        GROUP BY day, metric_name, type_key, category_key, workflow_sketch_bin(v)
        ON CONFLICT (day, metric_name, type_key, category_key, bin) DO UPDATE SET count = b.count + excluded.count
    ), rollups AS (
        INSERT INTO workflow_metric_rollups AS r (day, metric_name, type_key, category_key, row_count, value_count,
            shift, shifted_sum, shifted_squares, min_value, max_value, earliest, latest)
        SELECT day, metric_name, type_key, category_key, count(*), count(v), min(k),
               COALESCE(sum(v - k), 0), COALESCE(sum((v - k) * (v - k)), 0), min(v), max(v), min(at), max(at)
        FROM shifted GROUP BY day, metric_name, type_key, category_key
        ON CONFLICT (day, metric_name, type_key, category_key) DO UPDATE SET
            row_count = r.row_count + excluded.row_count,
            value_count = r.value_count + excluded.value_count,
            shifted_sum = r.shifted_sum + excluded.shifted_sum
                + excluded.value_count * COALESCE(excluded.shift - COALESCE(r.shift, excluded.shift), 0),
            shifted_squares = r.shifted_squares + excluded.shifted_squares
                + 2 * COALESCE(excluded.shift - COALESCE(r.shift, excluded.shift), 0) * excluded.shifted_sum
                + excluded.value_count * COALESCE(excluded.shift - COALESCE(r.shift, excluded.shift), 0)
                  * COALESCE(excluded.shift - COALESCE(r.shift, excluded.shift), 0),
            shift = COALESCE(r.shift, excluded.shift),
            min_value = LEAST(r.min_value, excluded.min_value),
            max_value = GREATEST(r.max_value, excluded.max_value),
            earliest = LEAST(r.earliest, excluded.earliest),
            latest = GREATEST(r.latest, excluded.latest)
    )
    SELECT count(*) INTO metrics FROM taken;

    -- Executions: signed changes. An extreme is recomputed (from the rows now, and the kept
    -- extremes) when a duration that left its key reaches it; recomputing again for changes
    -- still pending is harmless (an extreme of what the rows hold now only needs those changes'
    -- additions, which LEAST and GREATEST take again).
    WITH taken AS (
        DELETE FROM workflow_execution_pending RETURNING *
    ), g AS (
        SELECT workflow_id, status,
               sum(change) AS n,
               COALESCE(sum(change) FILTER (WHERE actual_duration IS NOT NULL), 0) AS dn,
               COALESCE(sum(change * actual_duration), 0) AS ds,
               COALESCE(sum(change) FILTER (WHERE estimated_duration IS NOT NULL), 0) AS en,
               COALESCE(sum(change * estimated_duration), 0) AS es,
               min(actual_duration) FILTER (WHERE change = 1) AS add_min,
               max(actual_duration) FILTER (WHERE change = 1) AS add_max,
               min(actual_duration) FILTER (WHERE change = -1) AS gone_min,
               max(actual_duration) FILTER (WHERE change = -1) AS gone_max,
               min(actual_duration) FILTER (WHERE change = 0) AS kept_min,
               max(actual_duration) FILTER (WHERE change = 0) AS kept_max
        FROM taken GROUP BY workflow_id, status
    ), bins AS (
        INSERT INTO workflow_execution_bins AS b (workflow_id, status, bin, count)
        SELECT workflow_id, status, workflow_sketch_bin(actual_duration), sum(change)
        FROM taken WHERE actual_duration IS NOT NULL
        GROUP BY workflow_id, status, workflow_sketch_bin(actual_duration)
        HAVING sum(change) <> 0
        ON CONFLICT (workflow_id, status, bin) DO UPDATE SET count = b.count + excluded.count
    ), rollups AS (
        -- Each key's new values from its old ones (none for a key seen for the first time): no one
        -- else writes rollup rows meanwhile, they hold the same lock.
        INSERT INTO workflow_execution_rollups AS r (workflow_id, status, execution_count, duration_count,
            duration_sum, min_duration, max_duration, estimated_count, estimated_sum, kept_min, kept_max)
        SELECT g.workflow_id, g.status,
               COALESCE(o.execution_count, 0) + g.n,
               COALESCE(o.duration_count, 0) + g.dn,
               COALESCE(o.duration_sum, 0) + g.ds,
               CASE WHEN g.gone_min <= LEAST(o.min_duration, g.add_min)
                   THEN LEAST(o.kept_min, g.kept_min, (SELECT min(e.actual_duration) FROM workflow_executions e
                        WHERE e.workflow_id = g.workflow_id AND e.status = g.status))
                   ELSE LEAST(o.min_duration, g.add_min) END,
               CASE WHEN g.gone_max >= GREATEST(o.max_duration, g.add_max)
                   THEN GREATEST(o.kept_max, g.kept_max, (SELECT max(e.actual_duration) FROM workflow_executions e
                        WHERE e.workflow_id = g.workflow_id AND e.status = g.status))
                   ELSE GREATEST(o.max_duration, g.add_max) END,
               COALESCE(o.estimated_count, 0) + g.en,
               COALESCE(o.estimated_sum, 0) + g.es,
               LEAST(o.kept_min, g.kept_min),
               GREATEST(o.kept_max, g.kept_max)
        FROM g LEFT JOIN workflow_execution_rollups o ON o.workflow_id = g.workflow_id AND o.status = g.status
        ON CONFLICT (workflow_id, status) DO UPDATE SET
            execution_count = excluded.execution_count, duration_count = excluded.duration_count,
            duration_sum = excluded.duration_sum, min_duration = excluded.min_duration,
            max_duration = excluded.max_duration, estimated_count = excluded.estimated_count,
            estimated_sum = excluded.estimated_sum, kept_min = excluded.kept_min, kept_max = excluded.kept_max
    )
    SELECT count(*) INTO executions FROM taken;
    RETURN metrics + executions;
END
$$;

-- Metrics: an insert appends its rows. An update or a delete keeps migration 010's trigger,
-- which subtracts what it removed (and adds what an update wrote) under the rollup lock; a
-- trigger before it takes that lock and folds, so that the rollups it subtracts from hold every
-- change committed before it.
CREATE FUNCTION workflow_metric_pending() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO workflow_metric_pending (metric_name, metric_type, metric_category, metric_value, recorded_at)
    SELECT metric_name, metric_type, metric_category, metric_value, recorded_at FROM new_rows;
    RETURN NULL;
END
$$;

DROP TRIGGER workflow_metric_rollups_insert ON workflow_metrics;
CREATE TRIGGER workflow_metric_rollups_insert AFTER INSERT ON workflow_metrics
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION workflow_metric_pending();

CREATE FUNCTION workflow_rollup_fold_first() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(2050121001);
    PERFORM workflow_rollup_fold();
    RETURN NULL;
END
$$;

CREATE TRIGGER workflow_metric_rollups_fold BEFORE UPDATE OR DELETE ON workflow_metrics
    FOR EACH STATEMENT EXECUTE FUNCTION workflow_rollup_fold_first();

-- Executions: every change is appended, signed.
CREATE OR REPLACE FUNCTION workflow_execution_rollups() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO workflow_execution_pending (workflow_id, status, change, actual_duration, estimated_duration)
        VALUES (OLD.workflow_id, OLD.status, CASE WHEN (SELECT keep_rollups FROM workflow_rollup_control) THEN 0 ELSE -1 END,
                OLD.actual_duration, OLD.estimated_duration);
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO workflow_execution_pending (workflow_id, status, change, actual_duration, estimated_duration)
        VALUES (OLD.workflow_id, OLD.status, -1, OLD.actual_duration, OLD.estimated_duration),
               (NEW.workflow_id, NEW.status, 1, NEW.actual_duration, NEW.estimated_duration);
    ELSE
        INSERT INTO workflow_execution_pending (workflow_id, status, change, actual_duration, estimated_duration)
        VALUES (NEW.workflow_id, NEW.status, 1, NEW.actual_duration, NEW.estimated_duration);
    END IF;
    RETURN NULL;
END
$$;
