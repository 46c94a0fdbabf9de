-- An exact mean execution time: the runs that had a time are counted apart from all runs (a run
-- without `executionTime` counts in usage_count but not in the mean). Existing rows keep their
-- mean over usage_count runs, the divisor it was computed with.
ALTER TABLE handler_registry ADD COLUMN timed_count BIGINT NOT NULL DEFAULT 0;
UPDATE handler_registry SET timed_count = usage_count WHERE average_execution_time IS NOT NULL;

CREATE OR REPLACE FUNCTION update_handler_statistics(
    p_handler_type VARCHAR,
    p_execution_time DOUBLE PRECISION,
    p_status VARCHAR
)
RETURNS VOID AS $$
BEGIN
    UPDATE handler_registry
    SET usage_count = usage_count + 1,
        success_count = success_count + CASE WHEN p_status = 'success' THEN 1 ELSE 0 END,
        failure_count = failure_count + CASE WHEN p_status = 'success' THEN 0 ELSE 1 END,
        average_execution_time = CASE
            WHEN p_execution_time IS NULL THEN average_execution_time
            WHEN timed_count = 0 OR average_execution_time IS NULL THEN p_execution_time
            ELSE (average_execution_time * timed_count + p_execution_time) / (timed_count + 1)
        END,
        timed_count = timed_count + CASE WHEN p_execution_time IS NULL THEN 0 ELSE 1 END,
        last_used_at = CURRENT_TIMESTAMP
    WHERE handler_type = p_handler_type;
END;
$$ LANGUAGE plpgsql;
