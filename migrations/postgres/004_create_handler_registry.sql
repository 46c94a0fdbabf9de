-- Handler registry and its usage history.
-- average_execution_time is double precision (the planned INTEGER truncated the running mean);
-- execution_time is 64-bit milliseconds; usage status is checked.

CREATE TABLE handler_registry (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    handler_type VARCHAR(255) UNIQUE NOT NULL,
    handler_name VARCHAR(255) NOT NULL,
    handler_class VARCHAR(255),
    handler_path VARCHAR(500),
    version VARCHAR(50) DEFAULT '1.0.0',
    description TEXT,
    capabilities JSONB,
    configuration JSONB,
    dependencies JSONB,
    metadata JSONB,
    is_active BOOLEAN DEFAULT true,
    is_default BOOLEAN DEFAULT false,
    priority INTEGER DEFAULT 1,
    registered_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,
    last_used_at TIMESTAMPTZ,
    usage_count INTEGER DEFAULT 0,
    success_count INTEGER DEFAULT 0,
    failure_count INTEGER DEFAULT 0,
    average_execution_time DOUBLE PRECISION DEFAULT 0
);

CREATE INDEX idx_handler_registry_handler_type ON handler_registry(handler_type);
CREATE INDEX idx_handler_registry_handler_name ON handler_registry(handler_name);
CREATE INDEX idx_handler_registry_is_active ON handler_registry(is_active);
CREATE INDEX idx_handler_registry_is_default ON handler_registry(is_default);
CREATE INDEX idx_handler_registry_priority ON handler_registry(priority);
CREATE INDEX idx_handler_registry_registered_at ON handler_registry(registered_at);
CREATE INDEX idx_handler_registry_last_used_at ON handler_registry(last_used_at);
CREATE INDEX idx_handler_registry_active_priority ON handler_registry(is_active, priority);
CREATE INDEX idx_handler_registry_type_active ON handler_registry(handler_type, is_active);
CREATE INDEX idx_handler_registry_name_active ON handler_registry(handler_name, is_active);
CREATE INDEX idx_handler_registry_active_handlers ON handler_registry(handler_type, priority)
    WHERE is_active = true;
CREATE INDEX idx_handler_registry_default_handlers ON handler_registry(handler_type, priority)
    WHERE is_default = true;

CREATE TRIGGER trigger_handler_registry_updated_at
    BEFORE UPDATE ON handler_registry
    FOR EACH ROW
    EXECUTE FUNCTION update_workflow_executions_updated_at();

CREATE TABLE handler_usage_history (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    handler_type VARCHAR(255) NOT NULL,
    execution_id VARCHAR(255) REFERENCES workflow_executions(execution_id) ON DELETE CASCADE,
    status VARCHAR(50) NOT NULL
        CONSTRAINT handler_usage_history_status_check
        CHECK (status IN ('success', 'failure', 'timeout', 'error')),
    execution_time BIGINT,
    error_message TEXT,
    metadata JSONB,
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX idx_handler_usage_history_handler_type ON handler_usage_history(handler_type);
CREATE INDEX idx_handler_usage_history_execution_id ON handler_usage_history(execution_id);
CREATE INDEX idx_handler_usage_history_status ON handler_usage_history(status);
CREATE INDEX idx_handler_usage_history_created_at ON handler_usage_history(created_at);
CREATE INDEX idx_handler_usage_history_type_status ON handler_usage_history(handler_type, status);
CREATE INDEX idx_handler_usage_history_type_created ON handler_usage_history(handler_type, created_at);

CREATE VIEW handler_performance_summary AS
SELECT
    hr.handler_type,
    hr.handler_name,
    hr.version,
    hr.is_active,
    hr.is_default,
    hr.priority,
    hr.usage_count,
    hr.success_count,
    hr.failure_count,
    hr.average_execution_time,
    CASE WHEN hr.usage_count > 0
        THEN ROUND((hr.success_count::NUMERIC / hr.usage_count::NUMERIC) * 100, 2)::DOUBLE PRECISION
        ELSE 0::DOUBLE PRECISION
    END AS success_rate,
    COUNT(huh.id) AS recent_usage_count,
    AVG(huh.execution_time)::DOUBLE PRECISION AS recent_avg_execution_time,
    MAX(huh.created_at) AS last_used
FROM handler_registry hr
LEFT JOIN handler_usage_history huh
    ON hr.handler_type = huh.handler_type
   AND huh.created_at >= CURRENT_TIMESTAMP - INTERVAL '30 days'
GROUP BY hr.id, hr.handler_type, hr.handler_name, hr.version, hr.is_active, hr.is_default,
         hr.priority, hr.usage_count, hr.success_count, hr.failure_count,
         hr.average_execution_time;

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
            WHEN usage_count = 0 THEN p_execution_time
            ELSE (COALESCE(average_execution_time, 0) * usage_count + p_execution_time) / (usage_count + 1)
        END,
        last_used_at = CURRENT_TIMESTAMP
    WHERE handler_type = p_handler_type;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION get_best_handler(p_handler_type VARCHAR)
RETURNS TABLE (
    handler_type VARCHAR,
    handler_name VARCHAR,
    handler_class VARCHAR,
    handler_path VARCHAR,
    version VARCHAR,
    priority INTEGER,
    success_rate DOUBLE PRECISION,
    average_execution_time DOUBLE PRECISION
) AS $$
BEGIN
    RETURN QUERY
    SELECT
        hr.handler_type,
        hr.handler_name,
        hr.handler_class,
        hr.handler_path,
        hr.version,
        hr.priority,
        CASE WHEN hr.usage_count > 0
            THEN ROUND((hr.success_count::NUMERIC / hr.usage_count::NUMERIC) * 100, 2)::DOUBLE PRECISION
            ELSE 0::DOUBLE PRECISION
        END AS success_rate,
        hr.average_execution_time
    FROM handler_registry hr
    WHERE hr.handler_type = p_handler_type
      AND hr.is_active = true
    -- ordinals: the OUT parameters shadow the output column names inside plpgsql
    ORDER BY hr.is_default DESC, 6 DESC, 7 DESC, 8 ASC
    LIMIT 1;
END;
$$ LANGUAGE plpgsql;

COMMENT ON TABLE handler_registry IS 'Registered workflow handlers and their running statistics';
COMMENT ON TABLE handler_usage_history IS 'One row per handler run';
COMMENT ON COLUMN handler_usage_history.status IS 'success, failure, timeout or error';
