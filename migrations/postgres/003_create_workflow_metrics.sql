-- Workflow metrics: measurements recorded during and about executions.
-- metric_value is double precision: the planned DECIMAL(15,4) overflowed on epoch-ms values.

CREATE TABLE workflow_metrics (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    execution_id VARCHAR(255) REFERENCES workflow_executions(execution_id) ON DELETE CASCADE,
    metric_name VARCHAR(255) NOT NULL,
    metric_value DOUBLE PRECISION,
    metric_unit VARCHAR(50),
    metric_type VARCHAR(50),
    metric_category VARCHAR(100),
    metadata JSONB,
    recorded_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX idx_workflow_metrics_execution_id ON workflow_metrics(execution_id);
CREATE INDEX idx_workflow_metrics_metric_name ON workflow_metrics(metric_name);
CREATE INDEX idx_workflow_metrics_metric_type ON workflow_metrics(metric_type);
CREATE INDEX idx_workflow_metrics_metric_category ON workflow_metrics(metric_category);
CREATE INDEX idx_workflow_metrics_recorded_at ON workflow_metrics(recorded_at);
CREATE INDEX idx_workflow_metrics_execution_type ON workflow_metrics(execution_id, metric_type);
CREATE INDEX idx_workflow_metrics_name_type ON workflow_metrics(metric_name, metric_type);
CREATE INDEX idx_workflow_metrics_category_type ON workflow_metrics(metric_category, metric_type);
CREATE INDEX idx_workflow_metrics_performance ON workflow_metrics(execution_id, metric_value)
    WHERE metric_type = 'performance';
CREATE INDEX idx_workflow_metrics_resource ON workflow_metrics(execution_id, metric_value)
    WHERE metric_type = 'resource';
CREATE INDEX idx_workflow_metrics_quality ON workflow_metrics(execution_id, metric_value)
    WHERE metric_type = 'quality';

CREATE VIEW workflow_metrics_summary AS
SELECT
    execution_id,
    metric_type,
    metric_category,
    COUNT(*) AS metric_count,
    AVG(metric_value) AS average_value,
    MIN(metric_value) AS min_value,
    MAX(metric_value) AS max_value,
    SUM(metric_value) AS total_value,
    STDDEV_SAMP(metric_value) AS standard_deviation
FROM workflow_metrics
GROUP BY execution_id, metric_type, metric_category;

CREATE OR REPLACE FUNCTION get_workflow_metrics_stats(
    p_execution_id VARCHAR DEFAULT NULL,
    p_metric_type VARCHAR DEFAULT NULL,
    p_start_date TIMESTAMPTZ DEFAULT NULL,
    p_end_date TIMESTAMPTZ DEFAULT NULL
)
RETURNS TABLE (
    metric_name VARCHAR,
    metric_type VARCHAR,
    metric_category VARCHAR,
    total_count BIGINT,
    average_value DOUBLE PRECISION,
    min_value DOUBLE PRECISION,
    max_value DOUBLE PRECISION,
    total_value DOUBLE PRECISION
) AS $$
BEGIN
    RETURN QUERY
    SELECT
        wm.metric_name,
        wm.metric_type,
        wm.metric_category,
        COUNT(*)::BIGINT,
        AVG(wm.metric_value),
        MIN(wm.metric_value),
        MAX(wm.metric_value),
        SUM(wm.metric_value)
    FROM workflow_metrics wm
    WHERE (p_execution_id IS NULL OR wm.execution_id = p_execution_id)
      AND (p_metric_type IS NULL OR wm.metric_type = p_metric_type)
      AND (p_start_date IS NULL OR wm.recorded_at >= p_start_date)
      AND (p_end_date IS NULL OR wm.recorded_at <= p_end_date)
    GROUP BY wm.metric_name, wm.metric_type, wm.metric_category
    ORDER BY wm.metric_name, wm.metric_type, wm.metric_category;
END;
$$ LANGUAGE plpgsql;

COMMENT ON TABLE workflow_metrics IS 'Workflow execution metrics';
COMMENT ON COLUMN workflow_metrics.metric_type IS 'performance, resource, quality or business';
COMMENT ON COLUMN workflow_metrics.metric_value IS 'Measured value (double precision)';
