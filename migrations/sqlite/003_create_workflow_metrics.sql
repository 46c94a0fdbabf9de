-- Workflow metrics (SQLite dialect of migrations/postgres/003).

CREATE TABLE workflow_metrics (
    id TEXT PRIMARY KEY NOT NULL DEFAULT (lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-' || substr('89ab', 1 + (abs(random()) % 4), 1) || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6)))),
    execution_id TEXT REFERENCES workflow_executions(execution_id) ON DELETE CASCADE,
    metric_name TEXT NOT NULL,
    metric_value REAL,
    metric_unit TEXT,
    metric_type TEXT,
    metric_category TEXT,
    metadata TEXT,
    recorded_at TEXT DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
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

-- Sample standard deviation in two passes (deviations from the group mean), which stays
-- accurate for large values such as epoch milliseconds; NULL for a single value, as STDDEV.
CREATE VIEW workflow_metrics_summary AS
SELECT
    m.execution_id,
    m.metric_type,
    m.metric_category,
    COUNT(*) AS metric_count,
    AVG(m.metric_value) AS average_value,
    MIN(m.metric_value) AS min_value,
    MAX(m.metric_value) AS max_value,
    SUM(m.metric_value) AS total_value,
    CASE WHEN COUNT(m.metric_value) > 1
        THEN sqrt(SUM((m.metric_value - g.mean) * (m.metric_value - g.mean)) / (COUNT(m.metric_value) - 1))
    END AS standard_deviation
FROM workflow_metrics m
JOIN (
    SELECT execution_id, metric_type, metric_category, AVG(metric_value) AS mean
    FROM workflow_metrics
    GROUP BY execution_id, metric_type, metric_category
) g ON g.execution_id IS m.execution_id
   AND g.metric_type IS m.metric_type
   AND g.metric_category IS m.metric_category
GROUP BY m.execution_id, m.metric_type, m.metric_category;
