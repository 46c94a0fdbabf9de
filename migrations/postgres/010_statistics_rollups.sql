-- Statistics rollups: the statistics calls read these instead of scanning the history.
--
-- Kept by triggers in the transaction of every write (this package's, a bulk path's, a cascade's
-- or another client's), so a statistics call never lags a committed write and two processes
-- writing at once keep them exact (each key is one row, updated under its row lock; the writers
-- of rollups take one transaction advisory lock first, so they never deadlock).
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
    singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    keep_rollups BOOLEAN NOT NULL DEFAULT FALSE
);
INSERT INTO workflow_rollup_control DEFAULT VALUES;

CREATE TABLE workflow_metric_rollups (
    day INTEGER NOT NULL,
    metric_name VARCHAR(255) NOT NULL,
    type_key VARCHAR(51) NOT NULL,
    category_key VARCHAR(101) NOT NULL,
    row_count BIGINT NOT NULL,
    value_count BIGINT NOT NULL,
    shift DOUBLE PRECISION,
    shifted_sum DOUBLE PRECISION NOT NULL,
    shifted_squares DOUBLE PRECISION NOT NULL,
    min_value DOUBLE PRECISION,
    max_value DOUBLE PRECISION,
    earliest TIMESTAMPTZ,
    latest TIMESTAMPTZ,
    kept_rows BIGINT NOT NULL DEFAULT 0,
    kept_min DOUBLE PRECISION,
    kept_max DOUBLE PRECISION,
    kept_earliest TIMESTAMPTZ,
    kept_latest TIMESTAMPTZ,
    PRIMARY KEY (day, metric_name, type_key, category_key)
);

CREATE TABLE workflow_metric_bins (
    day INTEGER NOT NULL,
    metric_name VARCHAR(255) NOT NULL,
    type_key VARCHAR(51) NOT NULL,
    category_key VARCHAR(101) NOT NULL,
    bin INTEGER NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (day, metric_name, type_key, category_key, bin)
);

CREATE TABLE workflow_execution_rollups (
    workflow_id VARCHAR(255) NOT NULL,
    status VARCHAR(50) NOT NULL,
    execution_count BIGINT NOT NULL,
    duration_count BIGINT NOT NULL,
    duration_sum NUMERIC NOT NULL,
    min_duration BIGINT,
    max_duration BIGINT,
    estimated_count BIGINT NOT NULL,
    estimated_sum NUMERIC NOT NULL,
    kept_min BIGINT,
    kept_max BIGINT,
    PRIMARY KEY (workflow_id, status)
);

CREATE TABLE workflow_execution_bins (
    workflow_id VARCHAR(255) NOT NULL,
    status VARCHAR(50) NOT NULL,
    bin INTEGER NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (workflow_id, status, bin)
);

-- The metrics backfill, one UTC day per transaction: next_day is the first day not yet rebuilt
-- from the raw rows; done once the all-time rows are rebuilt too. Until then the statistics scan.
CREATE TABLE workflow_rollup_backfill (
    singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    next_day INTEGER,
    last_day INTEGER,
    done BOOLEAN NOT NULL
);
INSERT INTO workflow_rollup_backfill (next_day, last_day, done)
SELECT floor(extract(epoch FROM min(recorded_at)) / 86400)::integer,
       floor(extract(epoch FROM max(recorded_at)) / 86400)::integer,
       count(*) = 0
FROM workflow_metrics;

-- The DDSketch bin of a value (NULL for NULL).
CREATE FUNCTION workflow_sketch_bin(v DOUBLE PRECISION) RETURNS INTEGER
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN v IS NULL THEN NULL
        WHEN abs(v) < 1e-300 THEN 0
        WHEN v > 0 THEN 40000 + ceil(ln(v) / ln(1.01::double precision / 0.99))::integer
        ELSE -(40000 + ceil(ln(-v) / ln(1.01::double precision / 0.99))::integer)
    END
$$;


-- The rollup keys of a metric row: its day (when it has a time) and all time.
CREATE FUNCTION workflow_metric_keys(name TEXT, type TEXT, category TEXT, at TIMESTAMPTZ)
RETURNS TABLE (day INTEGER, metric_name TEXT, type_key TEXT, category_key TEXT)
LANGUAGE sql STABLE AS $$
    SELECT l.d, name, COALESCE('=' || type, ''), COALESCE('=' || category, '')
    FROM (VALUES (floor(extract(epoch FROM at) / 86400)::integer), (-2147483648)) AS l(d)
    WHERE l.d IS NOT NULL
$$;

-- Keeps the metric rollups: subtracts the rows a statement removed (old_rows), adds those it
-- wrote (new_rows).
CREATE FUNCTION workflow_metric_rollups() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    one RECORD;
    single BOOLEAN;
    d INTEGER;
BEGIN
    -- Writers of rollups take one transaction lock first: the rows a transaction's statements
    -- update come in any order (a group commit joins several calls), and two transactions
    -- locking the same hot rows in different orders would deadlock.
    PERFORM pg_advisory_xact_lock(2050121001);
    IF TG_OP = 'INSERT' THEN
        -- One row (the common case: recordMetric): two upserts of plain values, half the cost of
        -- the aggregating statements below.
        SELECT count(*) = 1 INTO single FROM (SELECT 1 FROM new_rows LIMIT 2) s;
        IF single THEN
            SELECT * INTO one FROM new_rows;
            d := floor(extract(epoch FROM one.recorded_at) / 86400)::integer;
            INSERT INTO workflow_metric_rollups AS r (day, metric_name, type_key, category_key, row_count, value_count,
                shift, shifted_sum, shifted_squares, min_value, max_value, earliest, latest)
            SELECT l.day, one.metric_name, COALESCE('=' || one.metric_type, ''), COALESCE('=' || one.metric_category, ''),
                   1, (one.metric_value IS NOT NULL)::integer, one.metric_value, 0, 0, one.metric_value, one.metric_value,
                   one.recorded_at, one.recorded_at
            FROM (VALUES (-2147483648), (d)) AS l(day) WHERE l.day IS NOT NULL
            ORDER BY l.day
            ON CONFLICT (day, metric_name, type_key, category_key) DO UPDATE SET
                row_count = r.row_count + 1,
                value_count = r.value_count + excluded.value_count,
                shifted_sum = r.shifted_sum + COALESCE(excluded.shift - COALESCE(r.shift, excluded.shift), 0),
                shifted_squares = r.shifted_squares
                    + COALESCE((excluded.shift - COALESCE(r.shift, excluded.shift)) * (excluded.shift - COALESCE(r.shift, excluded.shift)), 0),
                shift = COALESCE(r.shift, excluded.shift),
                min_value = LEAST(r.min_value, excluded.min_value),
                max_value = GREATEST(r.max_value, excluded.max_value),
                earliest = LEAST(r.earliest, excluded.earliest),
                latest = GREATEST(r.latest, excluded.latest);
            IF one.metric_value IS NOT NULL THEN
                INSERT INTO workflow_metric_bins AS b (day, metric_name, type_key, category_key, bin, count)
                SELECT l.day, one.metric_name, COALESCE('=' || one.metric_type, ''), COALESCE('=' || one.metric_category, ''),
                       workflow_sketch_bin(one.metric_value), 1
                FROM (VALUES (-2147483648), (d)) AS l(day) WHERE l.day IS NOT NULL
                ORDER BY l.day
                ON CONFLICT (day, metric_name, type_key, category_key, bin) DO UPDATE SET count = b.count + 1;
            END IF;
            RETURN NULL;
        END IF;
    END IF;
    IF TG_OP = 'DELETE' AND (SELECT keep_rollups FROM workflow_rollup_control) THEN
        -- A cleanup keeping the rollups: the rows stay counted; remember their extremes.
        UPDATE workflow_metric_rollups r SET
            kept_rows = r.kept_rows + g.n,
            kept_min = LEAST(r.kept_min, g.mn), kept_max = GREATEST(r.kept_max, g.mx),
            kept_earliest = LEAST(r.kept_earliest, g.e), kept_latest = GREATEST(r.kept_latest, g.l)
        FROM (SELECT k.day, k.metric_name, k.type_key, k.category_key, count(*) AS n,
                     min(o.metric_value) AS mn, max(o.metric_value) AS mx,
                     min(o.recorded_at) AS e, max(o.recorded_at) AS l
              FROM old_rows o, LATERAL workflow_metric_keys(o.metric_name, o.metric_type, o.metric_category, o.recorded_at) k
              GROUP BY 1, 2, 3, 4) g
        WHERE r.day = g.day AND r.metric_name = g.metric_name AND r.type_key = g.type_key
          AND r.category_key = g.category_key;
    ELSIF TG_OP <> 'INSERT' THEN
        UPDATE workflow_metric_bins b SET count = b.count - g.n
        FROM (SELECT k.day, k.metric_name, k.type_key, k.category_key, workflow_sketch_bin(o.metric_value) AS bin,
                     count(*) AS n
              FROM old_rows o, LATERAL workflow_metric_keys(o.metric_name, o.metric_type, o.metric_category, o.recorded_at) k
              WHERE o.metric_value IS NOT NULL
              GROUP BY 1, 2, 3, 4, 5) g
        WHERE b.day = g.day AND b.metric_name = g.metric_name AND b.type_key = g.type_key
          AND b.category_key = g.category_key AND b.bin = g.bin;

        -- Counts and shifted sums subtract exactly; an extreme removed is recomputed from the raw
        -- rows left and the cleaned rows' extremes. Rows that reach zero stay (the reads skip them).
        UPDATE workflow_metric_rollups r SET
            row_count = r.row_count - g.n,
            value_count = r.value_count - g.nv,
            shifted_sum = r.shifted_sum - COALESCE(g.s1, 0),
            shifted_squares = r.shifted_squares - COALESCE(g.s2, 0),
            min_value = CASE WHEN g.mn <= r.min_value THEN LEAST(r.kept_min, (
                SELECT min(m.metric_value) FROM workflow_metrics m WHERE m.metric_name = r.metric_name
                AND COALESCE('=' || m.metric_type, '') = r.type_key AND COALESCE('=' || m.metric_category, '') = r.category_key
                AND (r.day = -2147483648 OR (m.recorded_at >= to_timestamp(r.day::double precision * 86400)
                     AND m.recorded_at < to_timestamp((r.day + 1)::double precision * 86400))))) ELSE r.min_value END,
            max_value = CASE WHEN g.mx >= r.max_value THEN GREATEST(r.kept_max, (
                SELECT max(m.metric_value) FROM workflow_metrics m WHERE m.metric_name = r.metric_name
                AND COALESCE('=' || m.metric_type, '') = r.type_key AND COALESCE('=' || m.metric_category, '') = r.category_key
                AND (r.day = -2147483648 OR (m.recorded_at >= to_timestamp(r.day::double precision * 86400)
                     AND m.recorded_at < to_timestamp((r.day + 1)::double precision * 86400))))) ELSE r.max_value END,
            earliest = CASE WHEN g.e <= r.earliest THEN LEAST(r.kept_earliest, (
                SELECT min(m.recorded_at) FROM workflow_metrics m WHERE m.metric_name = r.metric_name
                AND COALESCE('=' || m.metric_type, '') = r.type_key AND COALESCE('=' || m.metric_category, '') = r.category_key
                AND (r.day = -2147483648 OR (m.recorded_at >= to_timestamp(r.day::double precision * 86400)
                     AND m.recorded_at < to_timestamp((r.day + 1)::double precision * 86400))))) ELSE r.earliest END,
            latest = CASE WHEN g.l >= r.latest THEN GREATEST(r.kept_latest, (
                SELECT max(m.recorded_at) FROM workflow_metrics m WHERE m.metric_name = r.metric_name
                AND COALESCE('=' || m.metric_type, '') = r.type_key AND COALESCE('=' || m.metric_category, '') = r.category_key
                AND (r.day = -2147483648 OR (m.recorded_at >= to_timestamp(r.day::double precision * 86400)
                     AND m.recorded_at < to_timestamp((r.day + 1)::double precision * 86400))))) ELSE r.latest END
        FROM (SELECT k.day, k.metric_name, k.type_key, k.category_key, count(*) AS n, count(o.metric_value) AS nv,
                     sum(o.metric_value - x.shift) AS s1,
                     sum((o.metric_value - x.shift) * (o.metric_value - x.shift)) AS s2,
                     min(o.metric_value) AS mn, max(o.metric_value) AS mx,
                     min(o.recorded_at) AS e, max(o.recorded_at) AS l
              FROM old_rows o, LATERAL workflow_metric_keys(o.metric_name, o.metric_type, o.metric_category, o.recorded_at) k
              JOIN workflow_metric_rollups x ON x.day = k.day AND x.metric_name = k.metric_name
                   AND x.type_key = k.type_key AND x.category_key = k.category_key
              GROUP BY 1, 2, 3, 4) g
        WHERE r.day = g.day AND r.metric_name = g.metric_name AND r.type_key = g.type_key
          AND r.category_key = g.category_key;
    END IF;

    IF TG_OP <> 'DELETE' THEN
        WITH levels AS (
            SELECT k.day, k.metric_name, k.type_key, k.category_key, n.metric_value AS v, n.recorded_at AS at
            FROM new_rows n, LATERAL workflow_metric_keys(n.metric_name, n.metric_type, n.metric_category, n.recorded_at) k
        ), shifted AS (
            SELECT *, min(v) OVER (PARTITION BY day, metric_name, type_key, category_key) AS k FROM levels
        ), bins AS (
            INSERT INTO workflow_metric_bins AS b (day, metric_name, type_key, category_key, bin, count)
            SELECT day, metric_name, type_key, category_key, workflow_sketch_bin(v), count(*)
            FROM levels WHERE v IS NOT NULL
            GROUP BY day, metric_name, type_key, category_key, workflow_sketch_bin(v)
            ORDER BY day, metric_name, type_key, category_key, workflow_sketch_bin(v)
            ON CONFLICT (day, metric_name, type_key, category_key, bin) DO UPDATE SET count = b.count + excluded.count
        )
        INSERT INTO workflow_metric_rollups AS r (day, metric_name, type_key, category_key, row_count, value_count,
            shift, shifted_sum, shifted_squares, min_value, max_value, earliest, latest)
        SELECT day, metric_name, type_key, category_key, count(*), count(v), min(k),
               COALESCE(sum(v - k), 0), COALESCE(sum((v - k) * (v - k)), 0), min(v), max(v), min(at), max(at)
        FROM shifted GROUP BY day, metric_name, type_key, category_key
        ORDER BY day, metric_name, type_key, category_key -- rows locked in one order: no deadlock between writers
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
            latest = GREATEST(r.latest, excluded.latest);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER workflow_metric_rollups_insert AFTER INSERT ON workflow_metrics
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION workflow_metric_rollups();
CREATE TRIGGER workflow_metric_rollups_update AFTER UPDATE ON workflow_metrics
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION workflow_metric_rollups();
CREATE TRIGGER workflow_metric_rollups_delete AFTER DELETE ON workflow_metrics
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION workflow_metric_rollups();

-- Keeps the execution rollups, row by row (an update that changes none of their columns skips).
CREATE FUNCTION workflow_execution_rollups() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Writers of rollups take one transaction lock first: the rows a transaction's statements
    -- update come in any order (a group commit joins several calls), and two transactions
    -- locking the same hot rows in different orders would deadlock.
    PERFORM pg_advisory_xact_lock(2050121001);
    IF TG_OP = 'DELETE' AND (SELECT keep_rollups FROM workflow_rollup_control) THEN
        -- A cleanup keeping the rollups: the row stays counted; remember its extremes.
        UPDATE workflow_execution_rollups SET
            kept_min = LEAST(kept_min, OLD.actual_duration), kept_max = GREATEST(kept_max, OLD.actual_duration)
        WHERE workflow_id = OLD.workflow_id AND status = OLD.status;
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        IF OLD.actual_duration IS NOT NULL THEN
            UPDATE workflow_execution_bins SET count = count - 1
            WHERE workflow_id = OLD.workflow_id AND status = OLD.status AND bin = workflow_sketch_bin(OLD.actual_duration);
        END IF;
        -- An extreme removed is recomputed from the rows left and the cleaned rows' extremes.
        UPDATE workflow_execution_rollups r SET
            execution_count = r.execution_count - 1,
            duration_count = r.duration_count - (OLD.actual_duration IS NOT NULL)::integer,
            duration_sum = r.duration_sum - COALESCE(OLD.actual_duration, 0),
            estimated_count = r.estimated_count - (OLD.estimated_duration IS NOT NULL)::integer,
            estimated_sum = r.estimated_sum - COALESCE(OLD.estimated_duration, 0),
            min_duration = CASE WHEN OLD.actual_duration <= r.min_duration THEN LEAST(r.kept_min,
                (SELECT min(actual_duration) FROM workflow_executions WHERE workflow_id = OLD.workflow_id AND status = OLD.status))
                ELSE r.min_duration END,
            max_duration = CASE WHEN OLD.actual_duration >= r.max_duration THEN GREATEST(r.kept_max,
                (SELECT max(actual_duration) FROM workflow_executions WHERE workflow_id = OLD.workflow_id AND status = OLD.status))
                ELSE r.max_duration END
        WHERE r.workflow_id = OLD.workflow_id AND r.status = OLD.status;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        WITH bins AS (
            INSERT INTO workflow_execution_bins AS b (workflow_id, status, bin, count)
            SELECT NEW.workflow_id, NEW.status, workflow_sketch_bin(NEW.actual_duration), 1
            WHERE NEW.actual_duration IS NOT NULL
            ON CONFLICT (workflow_id, status, bin) DO UPDATE SET count = b.count + 1
        )
        INSERT INTO workflow_execution_rollups AS r (workflow_id, status, execution_count, duration_count,
            duration_sum, min_duration, max_duration, estimated_count, estimated_sum)
        VALUES (NEW.workflow_id, NEW.status, 1, (NEW.actual_duration IS NOT NULL)::integer,
            COALESCE(NEW.actual_duration, 0), NEW.actual_duration, NEW.actual_duration,
            (NEW.estimated_duration IS NOT NULL)::integer, COALESCE(NEW.estimated_duration, 0))
        ON CONFLICT (workflow_id, status) DO UPDATE SET
            execution_count = r.execution_count + 1,
            duration_count = r.duration_count + excluded.duration_count,
            duration_sum = r.duration_sum + excluded.duration_sum,
            min_duration = LEAST(r.min_duration, excluded.min_duration),
            max_duration = GREATEST(r.max_duration, excluded.max_duration),
            estimated_count = r.estimated_count + excluded.estimated_count,
            estimated_sum = r.estimated_sum + excluded.estimated_sum;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER workflow_execution_rollups_insert AFTER INSERT ON workflow_executions
    FOR EACH ROW EXECUTE FUNCTION workflow_execution_rollups();
CREATE TRIGGER workflow_execution_rollups_update AFTER UPDATE ON workflow_executions
    FOR EACH ROW
    WHEN ((OLD.workflow_id, OLD.status, OLD.actual_duration, OLD.estimated_duration)
          IS DISTINCT FROM (NEW.workflow_id, NEW.status, NEW.actual_duration, NEW.estimated_duration))
    EXECUTE FUNCTION workflow_execution_rollups();
CREATE TRIGGER workflow_execution_rollups_delete AFTER DELETE ON workflow_executions
    FOR EACH ROW EXECUTE FUNCTION workflow_execution_rollups();

-- The executions' backfill: all time, in this transaction.
INSERT INTO workflow_execution_rollups (workflow_id, status, execution_count, duration_count, duration_sum,
    min_duration, max_duration, estimated_count, estimated_sum)
SELECT workflow_id, status, count(*), count(actual_duration), COALESCE(sum(actual_duration), 0),
       min(actual_duration), max(actual_duration), count(estimated_duration), COALESCE(sum(estimated_duration), 0)
FROM workflow_executions GROUP BY workflow_id, status;
INSERT INTO workflow_execution_bins (workflow_id, status, bin, count)
SELECT workflow_id, status, workflow_sketch_bin(actual_duration), count(*)
FROM workflow_executions WHERE actual_duration IS NOT NULL
GROUP BY workflow_id, status, workflow_sketch_bin(actual_duration);

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
