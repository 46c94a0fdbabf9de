-- Distinct executions (getMetricsStatistics' unique_executions) without a scan (SQLite dialect
-- of migrations/postgres/012).
--
-- One sketch of the execution ids per UTC day of recorded_at and per (metric_name, metric_type,
-- metric_category), one per key for the rows without a time (day = -2147483647), and one per key
-- for all time (day = -2147483648): the set of the ids' 64-bit hashes while it is small (exact),
-- HyperLogLog registers beyond (precision 14). The package reads and merges them; their format
-- is its own (src/core/db/distinct.rs).
--
-- A write only appends the ids it adds to workflow_metric_execution_pending, and an update or a
-- delete marks the keys it removed ids from in workflow_metric_execution_dirty; a cleanup that
-- keeps the rollups appends the ids it removed as kept instead (each day's kept_sketch: a sketch
-- rebuilt from the raw rows takes them back, as the rollups keep counting those rows). The package folds both into the sketches: every
-- getMetricsStatistics call first, and its writer about once a second. A dirty sketch is rebuilt
-- from the raw rows (a sketch cannot subtract), then its all-time sketch from the days.

CREATE TABLE workflow_metric_executions (
    day INTEGER NOT NULL,
    metric_name TEXT NOT NULL,
    type_key TEXT NOT NULL,
    category_key TEXT NOT NULL,
    sketch TEXT NOT NULL,
    kept_sketch TEXT,
    PRIMARY KEY (day, metric_name, type_key, category_key)
);

CREATE TABLE workflow_metric_execution_pending (
    day INTEGER,
    metric_name TEXT NOT NULL,
    type_key TEXT NOT NULL,
    category_key TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    kept INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE workflow_metric_execution_dirty (
    day INTEGER NOT NULL,
    metric_name TEXT NOT NULL,
    type_key TEXT NOT NULL,
    category_key TEXT NOT NULL,
    PRIMARY KEY (day, metric_name, type_key, category_key)
);

CREATE TRIGGER workflow_metric_executions_insert AFTER INSERT ON workflow_metrics WHEN NEW.execution_id IS NOT NULL
BEGIN
    INSERT INTO workflow_metric_execution_pending (day, metric_name, type_key, category_key, execution_id)
    VALUES ((unixepoch(NEW.recorded_at) + 86400000000) / 86400 - 1000000, NEW.metric_name,
            COALESCE('=' || NEW.metric_type, ''), COALESCE('=' || NEW.metric_category, ''), NEW.execution_id);
END;

CREATE TRIGGER workflow_metric_executions_update AFTER UPDATE OF execution_id, metric_name, metric_type, metric_category, recorded_at
    ON workflow_metrics
BEGIN
    INSERT INTO workflow_metric_execution_dirty (day, metric_name, type_key, category_key)
    SELECT COALESCE((unixepoch(OLD.recorded_at) + 86400000000) / 86400 - 1000000, -2147483647), OLD.metric_name,
           COALESCE('=' || OLD.metric_type, ''), COALESCE('=' || OLD.metric_category, '')
    WHERE OLD.execution_id IS NOT NULL
    ON CONFLICT DO NOTHING;
    INSERT INTO workflow_metric_execution_pending (day, metric_name, type_key, category_key, execution_id)
    SELECT (unixepoch(NEW.recorded_at) + 86400000000) / 86400 - 1000000, NEW.metric_name,
           COALESCE('=' || NEW.metric_type, ''), COALESCE('=' || NEW.metric_category, ''), NEW.execution_id
    WHERE NEW.execution_id IS NOT NULL;
END;

CREATE TRIGGER workflow_metric_executions_delete AFTER DELETE ON workflow_metrics
    WHEN OLD.execution_id IS NOT NULL AND NOT (SELECT keep_rollups FROM workflow_rollup_control)
BEGIN
    INSERT INTO workflow_metric_execution_dirty (day, metric_name, type_key, category_key)
    VALUES (COALESCE((unixepoch(OLD.recorded_at) + 86400000000) / 86400 - 1000000, -2147483647), OLD.metric_name,
            COALESCE('=' || OLD.metric_type, ''), COALESCE('=' || OLD.metric_category, ''))
    ON CONFLICT DO NOTHING;
END;

CREATE TRIGGER workflow_metric_executions_keep AFTER DELETE ON workflow_metrics
    WHEN OLD.execution_id IS NOT NULL AND (SELECT keep_rollups FROM workflow_rollup_control)
BEGIN
    INSERT INTO workflow_metric_execution_pending (day, metric_name, type_key, category_key, execution_id, kept)
    VALUES (COALESCE((unixepoch(OLD.recorded_at) + 86400000000) / 86400 - 1000000, -2147483647), OLD.metric_name,
            COALESCE('=' || OLD.metric_type, ''), COALESCE('=' || OLD.metric_category, ''), OLD.execution_id, 1);
END;

-- The rows already there: folded like new ones.
INSERT INTO workflow_metric_execution_pending (day, metric_name, type_key, category_key, execution_id)
SELECT (unixepoch(recorded_at) + 86400000000) / 86400 - 1000000, metric_name,
       COALESCE('=' || metric_type, ''), COALESCE('=' || metric_category, ''), execution_id
FROM workflow_metrics WHERE execution_id IS NOT NULL;
