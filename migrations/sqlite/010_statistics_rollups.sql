-- Statistics rollups (SQLite dialect of migrations/postgres/010): the statistics calls read
-- these instead of scanning the history.
--
-- Kept by row triggers in the transaction of every write (this package's, a bulk path's, a
-- cascade's or another client's: the bins use ln() and ceil(), the math functions the views
-- already need), so a statistics call never lags a committed write; SQLite's one writer at a
-- time keeps them exact across processes.
--
-- Metrics roll up per UTC day of recorded_at and per (metric_name, metric_type,
-- metric_category), plus one all-time row per such key (day = -2147483648). Each row keeps what
-- merges exactly: row and value counts, the sum and sum of squares of (value - shift), where
-- shift is a value of the key (so epoch-millisecond values keep their precision), min, max,
-- earliest and latest. Percentiles come from DDSketch bins (relative accuracy 1 %:
-- bin k holds values in (g^(k-1), g^k], g = 1.01/0.99; stored as k + 40000, negated for negative
-- values, 0 for |v| < 1e-300). Nullable keys are stored as '' for NULL and '=' || value otherwise.
--
-- Executions roll up per (workflow_id, status), all time (getStatistics has no time filter).
--
-- A cleanup that keeps the rollups (the default) sets workflow_rollup_control.keep_rollups in
-- its transaction: the rows it removes stay counted, and their extremes are remembered (kept_*)
-- so that a later delete of a bucket's extreme recomputes it exactly.

CREATE TABLE workflow_rollup_control (
    singleton INTEGER PRIMARY KEY DEFAULT 1 CHECK (singleton = 1),
    keep_rollups INTEGER NOT NULL DEFAULT 0
);
INSERT INTO workflow_rollup_control DEFAULT VALUES;

CREATE TABLE workflow_metric_rollups (
    day INTEGER NOT NULL,
    metric_name TEXT NOT NULL,
    type_key TEXT NOT NULL,
    category_key TEXT NOT NULL,
    row_count INTEGER NOT NULL,
    value_count INTEGER NOT NULL,
    shift REAL,
    shifted_sum REAL NOT NULL,
    shifted_squares REAL NOT NULL,
    min_value REAL,
    max_value REAL,
    earliest TEXT,
    latest TEXT,
    kept_rows INTEGER NOT NULL DEFAULT 0,
    kept_min REAL,
    kept_max REAL,
    kept_earliest TEXT,
    kept_latest TEXT,
    PRIMARY KEY (day, metric_name, type_key, category_key)
) WITHOUT ROWID;

CREATE TABLE workflow_metric_bins (
    day INTEGER NOT NULL,
    metric_name TEXT NOT NULL,
    type_key TEXT NOT NULL,
    category_key TEXT NOT NULL,
    bin INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (day, metric_name, type_key, category_key, bin)
) WITHOUT ROWID;

CREATE TABLE workflow_execution_rollups (
    workflow_id TEXT NOT NULL,
    status TEXT NOT NULL,
    execution_count INTEGER NOT NULL,
    duration_count INTEGER NOT NULL,
    duration_sum INTEGER NOT NULL,
    min_duration INTEGER,
    max_duration INTEGER,
    estimated_count INTEGER NOT NULL,
    estimated_sum INTEGER NOT NULL,
    kept_min INTEGER,
    kept_max INTEGER,
    PRIMARY KEY (workflow_id, status)
) WITHOUT ROWID;

CREATE TABLE workflow_execution_bins (
    workflow_id TEXT NOT NULL,
    status TEXT NOT NULL,
    bin INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (workflow_id, status, bin)
) WITHOUT ROWID;

-- The metrics backfill, one UTC day per transaction: next_day is the first day not yet rebuilt
-- from the raw rows; done once the all-time rows are rebuilt too. Until then the statistics scan.
CREATE TABLE workflow_rollup_backfill (
    singleton INTEGER PRIMARY KEY DEFAULT 1 CHECK (singleton = 1),
    next_day INTEGER,
    last_day INTEGER,
    done INTEGER NOT NULL
);
INSERT INTO workflow_rollup_backfill (next_day, last_day, done)
SELECT min(d), max(d), count(*) = 0
FROM (SELECT (unixepoch(recorded_at) + 86400000000) / 86400 - 1000000 AS d FROM workflow_metrics);

CREATE TRIGGER workflow_metric_rollups_insert AFTER INSERT ON workflow_metrics
BEGIN
    INSERT INTO workflow_metric_rollups (day, metric_name, type_key, category_key, row_count, value_count,
        shift, shifted_sum, shifted_squares, min_value, max_value, earliest, latest)
    SELECT l.day, NEW.metric_name, COALESCE('=' || NEW.metric_type, ''), COALESCE('=' || NEW.metric_category, ''), 1,
        NEW.metric_value IS NOT NULL, NEW.metric_value, 0.0, 0.0, NEW.metric_value, NEW.metric_value, NEW.recorded_at, NEW.recorded_at
    FROM (SELECT ((unixepoch(NEW.recorded_at) + 86400000000) / 86400 - 1000000) AS day UNION ALL SELECT -2147483648) l WHERE l.day IS NOT NULL
    ON CONFLICT (day, metric_name, type_key, category_key) DO UPDATE SET
        row_count = row_count + 1,
        value_count = value_count + excluded.value_count,
        shifted_sum = shifted_sum + COALESCE(excluded.shift - COALESCE(shift, excluded.shift), 0),
        shifted_squares = shifted_squares
            + COALESCE((excluded.shift - COALESCE(shift, excluded.shift)) * (excluded.shift - COALESCE(shift, excluded.shift)), 0),
        shift = COALESCE(shift, excluded.shift),
        min_value = COALESCE(min(min_value, excluded.min_value), min_value, excluded.min_value),
        max_value = COALESCE(max(max_value, excluded.max_value), max_value, excluded.max_value),
        earliest = COALESCE(min(earliest, excluded.earliest), earliest, excluded.earliest),
        latest = COALESCE(max(latest, excluded.latest), latest, excluded.latest);
    INSERT INTO workflow_metric_bins (day, metric_name, type_key, category_key, bin, count)
    SELECT l.day, NEW.metric_name, COALESCE('=' || NEW.metric_type, ''), COALESCE('=' || NEW.metric_category, ''),
        CASE WHEN abs(NEW.metric_value) < 1e-300 THEN 0 WHEN NEW.metric_value > 0 THEN 40000 + CAST(ceil(ln(NEW.metric_value) / ln(1.01 / 0.99)) AS INTEGER) ELSE -(40000 + CAST(ceil(ln(-NEW.metric_value) / ln(1.01 / 0.99)) AS INTEGER)) END, 1
    FROM (SELECT ((unixepoch(NEW.recorded_at) + 86400000000) / 86400 - 1000000) AS day UNION ALL SELECT -2147483648) l
    WHERE l.day IS NOT NULL AND NEW.metric_value IS NOT NULL
    ON CONFLICT (day, metric_name, type_key, category_key, bin) DO UPDATE SET count = count + 1;
END;

CREATE TRIGGER workflow_metric_rollups_update AFTER UPDATE ON workflow_metrics
BEGIN
    UPDATE workflow_metric_bins SET count = count - 1
    WHERE OLD.metric_value IS NOT NULL AND day IN (((unixepoch(OLD.recorded_at) + 86400000000) / 86400 - 1000000), -2147483648) AND metric_name = OLD.metric_name AND type_key = COALESCE('=' || OLD.metric_type, '') AND category_key = COALESCE('=' || OLD.metric_category, '') AND bin = CASE WHEN abs(OLD.metric_value) < 1e-300 THEN 0 WHEN OLD.metric_value > 0 THEN 40000 + CAST(ceil(ln(OLD.metric_value) / ln(1.01 / 0.99)) AS INTEGER) ELSE -(40000 + CAST(ceil(ln(-OLD.metric_value) / ln(1.01 / 0.99)) AS INTEGER)) END;
    UPDATE workflow_metric_rollups SET
        row_count = row_count - 1,
        value_count = value_count - (OLD.metric_value IS NOT NULL),
        shifted_sum = shifted_sum - COALESCE(OLD.metric_value - shift, 0),
        shifted_squares = shifted_squares - COALESCE((OLD.metric_value - shift) * (OLD.metric_value - shift), 0),
        min_value = CASE WHEN OLD.metric_value <= min_value THEN (SELECT min(x) FROM (SELECT kept_min AS x UNION ALL SELECT (SELECT min(m.metric_value) FROM workflow_metrics m WHERE m.metric_name = OLD.metric_name AND m.metric_type IS OLD.metric_type AND m.metric_category IS OLD.metric_category AND (workflow_metric_rollups.day = -2147483648 OR (unixepoch(m.recorded_at) >= workflow_metric_rollups.day * 86400 AND unixepoch(m.recorded_at) < (workflow_metric_rollups.day + 1) * 86400))))) ELSE min_value END,
        max_value = CASE WHEN OLD.metric_value >= max_value THEN (SELECT max(x) FROM (SELECT kept_max AS x UNION ALL SELECT (SELECT max(m.metric_value) FROM workflow_metrics m WHERE m.metric_name = OLD.metric_name AND m.metric_type IS OLD.metric_type AND m.metric_category IS OLD.metric_category AND (workflow_metric_rollups.day = -2147483648 OR (unixepoch(m.recorded_at) >= workflow_metric_rollups.day * 86400 AND unixepoch(m.recorded_at) < (workflow_metric_rollups.day + 1) * 86400))))) ELSE max_value END,
        earliest = CASE WHEN OLD.recorded_at <= earliest THEN (SELECT min(x) FROM (SELECT kept_earliest AS x UNION ALL SELECT (SELECT min(m.recorded_at) FROM workflow_metrics m WHERE m.metric_name = OLD.metric_name AND m.metric_type IS OLD.metric_type AND m.metric_category IS OLD.metric_category AND (workflow_metric_rollups.day = -2147483648 OR (unixepoch(m.recorded_at) >= workflow_metric_rollups.day * 86400 AND unixepoch(m.recorded_at) < (workflow_metric_rollups.day + 1) * 86400))))) ELSE earliest END,
        latest = CASE WHEN OLD.recorded_at >= latest THEN (SELECT max(x) FROM (SELECT kept_latest AS x UNION ALL SELECT (SELECT max(m.recorded_at) FROM workflow_metrics m WHERE m.metric_name = OLD.metric_name AND m.metric_type IS OLD.metric_type AND m.metric_category IS OLD.metric_category AND (workflow_metric_rollups.day = -2147483648 OR (unixepoch(m.recorded_at) >= workflow_metric_rollups.day * 86400 AND unixepoch(m.recorded_at) < (workflow_metric_rollups.day + 1) * 86400))))) ELSE latest END
    WHERE day IN (((unixepoch(OLD.recorded_at) + 86400000000) / 86400 - 1000000), -2147483648) AND metric_name = OLD.metric_name AND type_key = COALESCE('=' || OLD.metric_type, '') AND category_key = COALESCE('=' || OLD.metric_category, '');
    INSERT INTO workflow_metric_rollups (day, metric_name, type_key, category_key, row_count, value_count,
        shift, shifted_sum, shifted_squares, min_value, max_value, earliest, latest)
    SELECT l.day, NEW.metric_name, COALESCE('=' || NEW.metric_type, ''), COALESCE('=' || NEW.metric_category, ''), 1,
        NEW.metric_value IS NOT NULL, NEW.metric_value, 0.0, 0.0, NEW.metric_value, NEW.metric_value, NEW.recorded_at, NEW.recorded_at
    FROM (SELECT ((unixepoch(NEW.recorded_at) + 86400000000) / 86400 - 1000000) AS day UNION ALL SELECT -2147483648) l WHERE l.day IS NOT NULL
    ON CONFLICT (day, metric_name, type_key, category_key) DO UPDATE SET
        row_count = row_count + 1,
        value_count = value_count + excluded.value_count,
        shifted_sum = shifted_sum + COALESCE(excluded.shift - COALESCE(shift, excluded.shift), 0),
        shifted_squares = shifted_squares
            + COALESCE((excluded.shift - COALESCE(shift, excluded.shift)) * (excluded.shift - COALESCE(shift, excluded.shift)), 0),
        shift = COALESCE(shift, excluded.shift),
        min_value = COALESCE(min(min_value, excluded.min_value), min_value, excluded.min_value),
        max_value = COALESCE(max(max_value, excluded.max_value), max_value, excluded.max_value),
        earliest = COALESCE(min(earliest, excluded.earliest), earliest, excluded.earliest),
        latest = COALESCE(max(latest, excluded.latest), latest, excluded.latest);
    INSERT INTO workflow_metric_bins (day, metric_name, type_key, category_key, bin, count)
    SELECT l.day, NEW.metric_name, COALESCE('=' || NEW.metric_type, ''), COALESCE('=' || NEW.metric_category, ''),
        CASE WHEN abs(NEW.metric_value) < 1e-300 THEN 0 WHEN NEW.metric_value > 0 THEN 40000 + CAST(ceil(ln(NEW.metric_value) / ln(1.01 / 0.99)) AS INTEGER) ELSE -(40000 + CAST(ceil(ln(-NEW.metric_value) / ln(1.01 / 0.99)) AS INTEGER)) END, 1
    FROM (SELECT ((unixepoch(NEW.recorded_at) + 86400000000) / 86400 - 1000000) AS day UNION ALL SELECT -2147483648) l
    WHERE l.day IS NOT NULL AND NEW.metric_value IS NOT NULL
    ON CONFLICT (day, metric_name, type_key, category_key, bin) DO UPDATE SET count = count + 1;
END;

CREATE TRIGGER workflow_metric_rollups_delete AFTER DELETE ON workflow_metrics WHEN NOT (SELECT keep_rollups FROM workflow_rollup_control)
BEGIN
    UPDATE workflow_metric_bins SET count = count - 1
    WHERE OLD.metric_value IS NOT NULL AND day IN (((unixepoch(OLD.recorded_at) + 86400000000) / 86400 - 1000000), -2147483648) AND metric_name = OLD.metric_name AND type_key = COALESCE('=' || OLD.metric_type, '') AND category_key = COALESCE('=' || OLD.metric_category, '') AND bin = CASE WHEN abs(OLD.metric_value) < 1e-300 THEN 0 WHEN OLD.metric_value > 0 THEN 40000 + CAST(ceil(ln(OLD.metric_value) / ln(1.01 / 0.99)) AS INTEGER) ELSE -(40000 + CAST(ceil(ln(-OLD.metric_value) / ln(1.01 / 0.99)) AS INTEGER)) END;
    UPDATE workflow_metric_rollups SET
        row_count = row_count - 1,
        value_count = value_count - (OLD.metric_value IS NOT NULL),
        shifted_sum = shifted_sum - COALESCE(OLD.metric_value - shift, 0),
        shifted_squares = shifted_squares - COALESCE((OLD.metric_value - shift) * (OLD.metric_value - shift), 0),
        min_value = CASE WHEN OLD.metric_value <= min_value THEN (SELECT min(x) FROM (SELECT kept_min AS x UNION ALL SELECT (SELECT min(m.metric_value) FROM workflow_metrics m WHERE m.metric_name = OLD.metric_name AND m.metric_type IS OLD.metric_type AND m.metric_category IS OLD.metric_category AND (workflow_metric_rollups.day = -2147483648 OR (unixepoch(m.recorded_at) >= workflow_metric_rollups.day * 86400 AND unixepoch(m.recorded_at) < (workflow_metric_rollups.day + 1) * 86400))))) ELSE min_value END,
        max_value = CASE WHEN OLD.metric_value >= max_value THEN (SELECT max(x) FROM (SELECT kept_max AS x UNION ALL SELECT (SELECT max(m.metric_value) FROM workflow_metrics m WHERE m.metric_name = OLD.metric_name AND m.metric_type IS OLD.metric_type AND m.metric_category IS OLD.metric_category AND (workflow_metric_rollups.day = -2147483648 OR (unixepoch(m.recorded_at) >= workflow_metric_rollups.day * 86400 AND unixepoch(m.recorded_at) < (workflow_metric_rollups.day + 1) * 86400))))) ELSE max_value END,
        earliest = CASE WHEN OLD.recorded_at <= earliest THEN (SELECT min(x) FROM (SELECT kept_earliest AS x UNION ALL SELECT (SELECT min(m.recorded_at) FROM workflow_metrics m WHERE m.metric_name = OLD.metric_name AND m.metric_type IS OLD.metric_type AND m.metric_category IS OLD.metric_category AND (workflow_metric_rollups.day = -2147483648 OR (unixepoch(m.recorded_at) >= workflow_metric_rollups.day * 86400 AND unixepoch(m.recorded_at) < (workflow_metric_rollups.day + 1) * 86400))))) ELSE earliest END,
        latest = CASE WHEN OLD.recorded_at >= latest THEN (SELECT max(x) FROM (SELECT kept_latest AS x UNION ALL SELECT (SELECT max(m.recorded_at) FROM workflow_metrics m WHERE m.metric_name = OLD.metric_name AND m.metric_type IS OLD.metric_type AND m.metric_category IS OLD.metric_category AND (workflow_metric_rollups.day = -2147483648 OR (unixepoch(m.recorded_at) >= workflow_metric_rollups.day * 86400 AND unixepoch(m.recorded_at) < (workflow_metric_rollups.day + 1) * 86400))))) ELSE latest END
    WHERE day IN (((unixepoch(OLD.recorded_at) + 86400000000) / 86400 - 1000000), -2147483648) AND metric_name = OLD.metric_name AND type_key = COALESCE('=' || OLD.metric_type, '') AND category_key = COALESCE('=' || OLD.metric_category, '');
END;

CREATE TRIGGER workflow_metric_rollups_keep AFTER DELETE ON workflow_metrics WHEN (SELECT keep_rollups FROM workflow_rollup_control)
BEGIN
    UPDATE workflow_metric_rollups SET
        kept_rows = kept_rows + 1,
        kept_min = COALESCE(min(kept_min, OLD.metric_value), kept_min, OLD.metric_value), kept_max = COALESCE(max(kept_max, OLD.metric_value), kept_max, OLD.metric_value),
        kept_earliest = COALESCE(min(kept_earliest, OLD.recorded_at), kept_earliest, OLD.recorded_at), kept_latest = COALESCE(max(kept_latest, OLD.recorded_at), kept_latest, OLD.recorded_at)
    WHERE day IN (((unixepoch(OLD.recorded_at) + 86400000000) / 86400 - 1000000), -2147483648) AND metric_name = OLD.metric_name AND type_key = COALESCE('=' || OLD.metric_type, '') AND category_key = COALESCE('=' || OLD.metric_category, '');
END;

CREATE TRIGGER workflow_execution_rollups_insert AFTER INSERT ON workflow_executions
BEGIN
    INSERT INTO workflow_execution_rollups (workflow_id, status, execution_count, duration_count, duration_sum,
        min_duration, max_duration, estimated_count, estimated_sum)
    VALUES (NEW.workflow_id, NEW.status, 1, NEW.actual_duration IS NOT NULL, COALESCE(NEW.actual_duration, 0), NEW.actual_duration, NEW.actual_duration,
        NEW.estimated_duration IS NOT NULL, COALESCE(NEW.estimated_duration, 0))
    ON CONFLICT (workflow_id, status) DO UPDATE SET
        execution_count = execution_count + 1,
        duration_count = duration_count + excluded.duration_count,
        duration_sum = duration_sum + excluded.duration_sum,
        min_duration = COALESCE(min(min_duration, excluded.min_duration), min_duration, excluded.min_duration),
        max_duration = COALESCE(max(max_duration, excluded.max_duration), max_duration, excluded.max_duration),
        estimated_count = estimated_count + excluded.estimated_count,
        estimated_sum = estimated_sum + excluded.estimated_sum;
    INSERT INTO workflow_execution_bins (workflow_id, status, bin, count)
    SELECT NEW.workflow_id, NEW.status, CASE WHEN abs(NEW.actual_duration) < 1e-300 THEN 0 WHEN NEW.actual_duration > 0 THEN 40000 + CAST(ceil(ln(NEW.actual_duration) / ln(1.01 / 0.99)) AS INTEGER) ELSE -(40000 + CAST(ceil(ln(-NEW.actual_duration) / ln(1.01 / 0.99)) AS INTEGER)) END, 1 WHERE NEW.actual_duration IS NOT NULL
    ON CONFLICT (workflow_id, status, bin) DO UPDATE SET count = count + 1;
END;

CREATE TRIGGER workflow_execution_rollups_update AFTER UPDATE OF workflow_id, status, actual_duration, estimated_duration
ON workflow_executions
WHEN OLD.workflow_id IS NOT NEW.workflow_id OR OLD.status IS NOT NEW.status
    OR OLD.actual_duration IS NOT NEW.actual_duration OR OLD.estimated_duration IS NOT NEW.estimated_duration
BEGIN
    UPDATE workflow_execution_bins SET count = count - 1
    WHERE OLD.actual_duration IS NOT NULL AND workflow_id = OLD.workflow_id AND status = OLD.status AND bin = CASE WHEN abs(OLD.actual_duration) < 1e-300 THEN 0 WHEN OLD.actual_duration > 0 THEN 40000 + CAST(ceil(ln(OLD.actual_duration) / ln(1.01 / 0.99)) AS INTEGER) ELSE -(40000 + CAST(ceil(ln(-OLD.actual_duration) / ln(1.01 / 0.99)) AS INTEGER)) END;
    UPDATE workflow_execution_rollups SET
        execution_count = execution_count - 1,
        duration_count = duration_count - (OLD.actual_duration IS NOT NULL),
        duration_sum = duration_sum - COALESCE(OLD.actual_duration, 0),
        estimated_count = estimated_count - (OLD.estimated_duration IS NOT NULL),
        estimated_sum = estimated_sum - COALESCE(OLD.estimated_duration, 0),
        min_duration = CASE WHEN OLD.actual_duration <= min_duration THEN (SELECT min(x) FROM (SELECT kept_min AS x UNION ALL SELECT (SELECT min(actual_duration) FROM workflow_executions x WHERE x.workflow_id = OLD.workflow_id AND x.status = OLD.status))) ELSE min_duration END,
        max_duration = CASE WHEN OLD.actual_duration >= max_duration THEN (SELECT max(x) FROM (SELECT kept_max AS x UNION ALL SELECT (SELECT max(actual_duration) FROM workflow_executions x WHERE x.workflow_id = OLD.workflow_id AND x.status = OLD.status))) ELSE max_duration END
    WHERE workflow_id = OLD.workflow_id AND status = OLD.status;
    INSERT INTO workflow_execution_rollups (workflow_id, status, execution_count, duration_count, duration_sum,
        min_duration, max_duration, estimated_count, estimated_sum)
    VALUES (NEW.workflow_id, NEW.status, 1, NEW.actual_duration IS NOT NULL, COALESCE(NEW.actual_duration, 0), NEW.actual_duration, NEW.actual_duration,
        NEW.estimated_duration IS NOT NULL, COALESCE(NEW.estimated_duration, 0))
    ON CONFLICT (workflow_id, status) DO UPDATE SET
        execution_count = execution_count + 1,
        duration_count = duration_count + excluded.duration_count,
        duration_sum = duration_sum + excluded.duration_sum,
        min_duration = COALESCE(min(min_duration, excluded.min_duration), min_duration, excluded.min_duration),
        max_duration = COALESCE(max(max_duration, excluded.max_duration), max_duration, excluded.max_duration),
        estimated_count = estimated_count + excluded.estimated_count,
        estimated_sum = estimated_sum + excluded.estimated_sum;
    INSERT INTO workflow_execution_bins (workflow_id, status, bin, count)
    SELECT NEW.workflow_id, NEW.status, CASE WHEN abs(NEW.actual_duration) < 1e-300 THEN 0 WHEN NEW.actual_duration > 0 THEN 40000 + CAST(ceil(ln(NEW.actual_duration) / ln(1.01 / 0.99)) AS INTEGER) ELSE -(40000 + CAST(ceil(ln(-NEW.actual_duration) / ln(1.01 / 0.99)) AS INTEGER)) END, 1 WHERE NEW.actual_duration IS NOT NULL
    ON CONFLICT (workflow_id, status, bin) DO UPDATE SET count = count + 1;
END;

CREATE TRIGGER workflow_execution_rollups_delete AFTER DELETE ON workflow_executions WHEN NOT (SELECT keep_rollups FROM workflow_rollup_control)
BEGIN
    UPDATE workflow_execution_bins SET count = count - 1
    WHERE OLD.actual_duration IS NOT NULL AND workflow_id = OLD.workflow_id AND status = OLD.status AND bin = CASE WHEN abs(OLD.actual_duration) < 1e-300 THEN 0 WHEN OLD.actual_duration > 0 THEN 40000 + CAST(ceil(ln(OLD.actual_duration) / ln(1.01 / 0.99)) AS INTEGER) ELSE -(40000 + CAST(ceil(ln(-OLD.actual_duration) / ln(1.01 / 0.99)) AS INTEGER)) END;
    UPDATE workflow_execution_rollups SET
        execution_count = execution_count - 1,
        duration_count = duration_count - (OLD.actual_duration IS NOT NULL),
        duration_sum = duration_sum - COALESCE(OLD.actual_duration, 0),
        estimated_count = estimated_count - (OLD.estimated_duration IS NOT NULL),
        estimated_sum = estimated_sum - COALESCE(OLD.estimated_duration, 0),
        min_duration = CASE WHEN OLD.actual_duration <= min_duration THEN (SELECT min(x) FROM (SELECT kept_min AS x UNION ALL SELECT (SELECT min(actual_duration) FROM workflow_executions x WHERE x.workflow_id = OLD.workflow_id AND x.status = OLD.status))) ELSE min_duration END,
        max_duration = CASE WHEN OLD.actual_duration >= max_duration THEN (SELECT max(x) FROM (SELECT kept_max AS x UNION ALL SELECT (SELECT max(actual_duration) FROM workflow_executions x WHERE x.workflow_id = OLD.workflow_id AND x.status = OLD.status))) ELSE max_duration END
    WHERE workflow_id = OLD.workflow_id AND status = OLD.status;
END;

CREATE TRIGGER workflow_execution_rollups_keep AFTER DELETE ON workflow_executions WHEN (SELECT keep_rollups FROM workflow_rollup_control)
BEGIN
    UPDATE workflow_execution_rollups SET
        kept_min = COALESCE(min(kept_min, OLD.actual_duration), kept_min, OLD.actual_duration), kept_max = COALESCE(max(kept_max, OLD.actual_duration), kept_max, OLD.actual_duration)
    WHERE workflow_id = OLD.workflow_id AND status = OLD.status;
END;

-- The executions' backfill: all time, in this transaction.
INSERT INTO workflow_execution_rollups (workflow_id, status, execution_count, duration_count, duration_sum,
    min_duration, max_duration, estimated_count, estimated_sum)
SELECT workflow_id, status, count(*), count(actual_duration), COALESCE(sum(actual_duration), 0),
       min(actual_duration), max(actual_duration), count(estimated_duration), COALESCE(sum(estimated_duration), 0)
FROM workflow_executions GROUP BY workflow_id, status;
INSERT INTO workflow_execution_bins (workflow_id, status, bin, count)
SELECT workflow_id, status, b, count(*) FROM (
    SELECT workflow_id, status, CASE WHEN abs(actual_duration) < 1e-300 THEN 0
        WHEN actual_duration > 0 THEN 40000 + CAST(ceil(ln(actual_duration) / ln(1.01 / 0.99)) AS INTEGER)
        ELSE -(40000 + CAST(ceil(ln(-actual_duration) / ln(1.01 / 0.99)) AS INTEGER)) END AS b
    FROM workflow_executions WHERE actual_duration IS NOT NULL)
GROUP BY workflow_id, status, b;

-- Indexes the statistics no longer need (they read the rollups), and those another index
-- already serves (execution_id's unique constraint; the leading column of a composite one), or
-- that no query uses (start_time): fewer index entries to write pay for the rollups' upkeep.
DROP INDEX idx_workflow_executions_execution_id;
DROP INDEX idx_workflow_executions_workflow_id;
DROP INDEX idx_workflow_executions_user_id;
DROP INDEX idx_workflow_executions_task_id;
DROP INDEX idx_workflow_executions_start_time;
DROP INDEX idx_workflow_metrics_execution_id;
DROP INDEX idx_workflow_metrics_metric_category;
DROP INDEX idx_workflow_metrics_category_type;
DROP INDEX idx_workflow_metrics_name_type;
DROP INDEX idx_workflow_metrics_performance;
DROP INDEX idx_workflow_metrics_resource;
DROP INDEX idx_workflow_metrics_quality;
