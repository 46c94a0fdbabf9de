-- Workflow executions: one row per run of a workflow.
-- Deliberate changes from the planned schema: task_id is text without a foreign key (PIDEA task
-- ids are text and this package does not own `tasks`), durations are 64-bit milliseconds,
-- timestamps carry their time zone, and the status column is checked.

CREATE TABLE workflow_executions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    execution_id VARCHAR(255) UNIQUE NOT NULL,
    workflow_id VARCHAR(255) NOT NULL,
    workflow_name VARCHAR(255) NOT NULL,
    workflow_version VARCHAR(50),
    task_id VARCHAR(255),
    user_id VARCHAR(255),
    status VARCHAR(50) NOT NULL DEFAULT 'pending'
        CONSTRAINT workflow_executions_status_check
        CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    strategy VARCHAR(100),
    priority INTEGER DEFAULT 1,
    estimated_duration BIGINT,
    actual_duration BIGINT,
    start_time TIMESTAMPTZ,
    end_time TIMESTAMPTZ,
    result_data JSONB,
    error_data JSONB,
    metadata JSONB,
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX idx_workflow_executions_execution_id ON workflow_executions(execution_id);
CREATE INDEX idx_workflow_executions_workflow_id ON workflow_executions(workflow_id);
CREATE INDEX idx_workflow_executions_task_id ON workflow_executions(task_id);
CREATE INDEX idx_workflow_executions_status ON workflow_executions(status);
CREATE INDEX idx_workflow_executions_start_time ON workflow_executions(start_time);
CREATE INDEX idx_workflow_executions_user_id ON workflow_executions(user_id);
CREATE INDEX idx_workflow_executions_created_at ON workflow_executions(created_at);
CREATE INDEX idx_workflow_executions_workflow_status ON workflow_executions(workflow_id, status);
CREATE INDEX idx_workflow_executions_user_status ON workflow_executions(user_id, status);
CREATE INDEX idx_workflow_executions_task_status ON workflow_executions(task_id, status);

CREATE OR REPLACE FUNCTION update_workflow_executions_updated_at()
RETURNS TRIGGER AS $$
BEGIN
    NEW.updated_at = CURRENT_TIMESTAMP;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER trigger_workflow_executions_updated_at
    BEFORE UPDATE ON workflow_executions
    FOR EACH ROW
    EXECUTE FUNCTION update_workflow_executions_updated_at();

COMMENT ON TABLE workflow_executions IS 'Workflow execution history and status';
COMMENT ON COLUMN workflow_executions.execution_id IS 'Unique execution identifier';
COMMENT ON COLUMN workflow_executions.workflow_id IS 'Identifier of the workflow that ran';
COMMENT ON COLUMN workflow_executions.task_id IS 'PIDEA task id (text, e.g. task_<project>_<ms>_<rand>)';
COMMENT ON COLUMN workflow_executions.status IS 'pending, running, completed, failed or cancelled';
COMMENT ON COLUMN workflow_executions.priority IS 'Execution priority (1 = low, 5 = high)';
COMMENT ON COLUMN workflow_executions.estimated_duration IS 'Estimated duration in milliseconds';
COMMENT ON COLUMN workflow_executions.actual_duration IS 'Actual duration in milliseconds';
COMMENT ON COLUMN workflow_executions.result_data IS 'Execution result (JSON)';
COMMENT ON COLUMN workflow_executions.error_data IS 'Execution error details (JSON)';
COMMENT ON COLUMN workflow_executions.metadata IS 'Additional execution metadata (JSON)';
