-- Distinct executions (getMetricsStatistics' unique_executions) without a scan.
--
-- One sketch of the execution ids per UTC day of recorded_at and per (metric_name, metric_type,
-- metric_category), one per key for the rows without a time (day = -2147483647), and one per key
-- for all time (day = -2147483648): the set of the ids' 64-bit hashes while it is small (exact),
-- HyperLogLog registers beyond (precision 14). The package reads and merges them; their format
-- is its own (src/core/db/distinct.rs).
--
-- A write's ids reach workflow_metric_execution_pending through migration 011's pending table
-- (below); an update or a delete marks the keys it removed ids from in
-- workflow_metric_execution_dirty, and a cleanup that keeps the rollups appends the ids it
-- removed as kept instead (each day's kept_sketch: a sketch rebuilt from the raw rows takes them
-- back, as the rollups keep counting those rows). The package folds them into the sketches,
-- under its own lock: every getMetricsStatistics call first, and each process about once a
-- second. A marked sketch is rebuilt from the raw rows (a sketch cannot subtract), then its
-- all-time sketch from the days.

CREATE TABLE workflow_metric_executions (
    day INTEGER NOT NULL,
    metric_name VARCHAR(255) NOT NULL,
    type_key VARCHAR(51) NOT NULL,
    category_key VARCHAR(101) NOT NULL,
    sketch TEXT NOT NULL,
    kept_sketch TEXT,
    PRIMARY KEY (day, metric_name, type_key, category_key)
);

CREATE TABLE workflow_metric_execution_pending (
    day INTEGER,
    metric_name VARCHAR(255) NOT NULL,
    type_key VARCHAR(51) NOT NULL,
    category_key VARCHAR(101) NOT NULL,
    execution_id VARCHAR(255) NOT NULL,
    kept BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE TABLE workflow_metric_execution_dirty (
    day INTEGER NOT NULL,
    metric_name VARCHAR(255) NOT NULL,
    type_key VARCHAR(51) NOT NULL,
    category_key VARCHAR(101) NOT NULL,
    PRIMARY KEY (day, metric_name, type_key, category_key)
);

-- A write appends its ids with the rest of its rows to migration 011's pending table (one
-- column more, not one statement more); the fold of that table, as it deletes them, hands the
-- ids to workflow_metric_execution_pending. What is pending now is folded first: its rows have
-- no ids.
SELECT workflow_rollup_fold();
ALTER TABLE workflow_metric_pending ADD COLUMN execution_id VARCHAR(255);

CREATE OR REPLACE FUNCTION workflow_metric_pending() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO workflow_metric_pending (metric_name, metric_type, metric_category, metric_value, recorded_at, execution_id)
    SELECT metric_name, metric_type, metric_category, metric_value, recorded_at, execution_id FROM new_rows;
    RETURN NULL;
END
$$;

CREATE FUNCTION workflow_metric_pending_ids() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO workflow_metric_execution_pending (day, metric_name, type_key, category_key, execution_id)
    SELECT floor(extract(epoch FROM recorded_at) / 86400)::integer, metric_name,
           COALESCE('=' || metric_type, ''), COALESCE('=' || metric_category, ''), execution_id
    FROM folded WHERE execution_id IS NOT NULL;
    RETURN NULL;
END
$$;

CREATE TRIGGER workflow_metric_pending_ids AFTER DELETE ON workflow_metric_pending
    REFERENCING OLD TABLE AS folded FOR EACH STATEMENT EXECUTE FUNCTION workflow_metric_pending_ids();

-- An update adds its new ids and marks the keys of its old ones; a delete marks its keys, unless
-- a cleanup that keeps the rollups runs it: its rows stay counted, and their ids are appended as
-- kept (a sketch rebuilt from the raw rows takes them back).
CREATE FUNCTION workflow_metric_execution_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND (SELECT keep_rollups FROM workflow_rollup_control) THEN
        INSERT INTO workflow_metric_execution_pending (day, metric_name, type_key, category_key, execution_id, kept)
        SELECT COALESCE(floor(extract(epoch FROM recorded_at) / 86400)::integer, -2147483647), metric_name,
               COALESCE('=' || metric_type, ''), COALESCE('=' || metric_category, ''), execution_id, TRUE
        FROM old_rows WHERE execution_id IS NOT NULL;
        RETURN NULL;
    END IF;
    INSERT INTO workflow_metric_execution_dirty (day, metric_name, type_key, category_key)
    SELECT DISTINCT COALESCE(floor(extract(epoch FROM recorded_at) / 86400)::integer, -2147483647), metric_name,
           COALESCE('=' || metric_type, ''), COALESCE('=' || metric_category, '')
    FROM old_rows WHERE execution_id IS NOT NULL
    ON CONFLICT DO NOTHING;
    IF TG_OP = 'UPDATE' THEN
        INSERT INTO workflow_metric_execution_pending (day, metric_name, type_key, category_key, execution_id)
        SELECT floor(extract(epoch FROM recorded_at) / 86400)::integer, metric_name,
               COALESCE('=' || metric_type, ''), COALESCE('=' || metric_category, ''), execution_id
        FROM new_rows WHERE execution_id IS NOT NULL;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER workflow_metric_executions_update AFTER UPDATE ON workflow_metrics
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION workflow_metric_execution_changes();
CREATE TRIGGER workflow_metric_executions_delete AFTER DELETE ON workflow_metrics
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION workflow_metric_execution_changes();

-- The rows already there: folded like new ones.
INSERT INTO workflow_metric_execution_pending (day, metric_name, type_key, category_key, execution_id)
SELECT floor(extract(epoch FROM recorded_at) / 86400)::integer, metric_name,
       COALESCE('=' || metric_type, ''), COALESCE('=' || metric_category, ''), execution_id
FROM workflow_metrics WHERE execution_id IS NOT NULL;
