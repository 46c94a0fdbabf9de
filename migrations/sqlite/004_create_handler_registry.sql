-- Handler registry and usage history (SQLite dialect of migrations/postgres/004).

CREATE TABLE handler_registry (
    id TEXT PRIMARY KEY NOT NULL DEFAULT (lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-' || substr('89ab', 1 + (abs(random()) % 4), 1) || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6)))),
    handler_type TEXT UNIQUE NOT NULL,
    handler_name TEXT NOT NULL,
    handler_class TEXT,
    handler_path TEXT,
    version TEXT DEFAULT '1.0.0',
    description TEXT,
    capabilities TEXT,
    configuration TEXT,
    dependencies TEXT,
    metadata TEXT,
    is_active INTEGER DEFAULT 1 CHECK (is_active IN (0, 1)),
    is_default INTEGER DEFAULT 0 CHECK (is_default IN (0, 1)),
    priority INTEGER DEFAULT 1,
    registered_at TEXT DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at TEXT DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    last_used_at TEXT,
    usage_count INTEGER DEFAULT 0,
    success_count INTEGER DEFAULT 0,
    failure_count INTEGER DEFAULT 0,
    average_execution_time REAL DEFAULT 0
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
    WHERE is_active = 1;
CREATE INDEX idx_handler_registry_default_handlers ON handler_registry(handler_type, priority)
    WHERE is_default = 1;

-- As on workflow_executions: stamps updates that do not set updated_at themselves.
CREATE TRIGGER trigger_handler_registry_updated_at
AFTER UPDATE ON handler_registry
FOR EACH ROW WHEN NEW.updated_at IS OLD.updated_at
BEGIN
    UPDATE handler_registry SET updated_at = (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) WHERE id = NEW.id;
END;

CREATE TABLE handler_usage_history (
    id TEXT PRIMARY KEY NOT NULL DEFAULT (lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-' || substr('89ab', 1 + (abs(random()) % 4), 1) || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6)))),
    handler_type TEXT NOT NULL,
    execution_id TEXT REFERENCES workflow_executions(execution_id) ON DELETE CASCADE,
    status TEXT NOT NULL
        CONSTRAINT handler_usage_history_status_check
        CHECK (status IN ('success', 'failure', 'timeout', 'error')),
    execution_time INTEGER,
    error_message TEXT,
    metadata TEXT,
    created_at TEXT DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
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
        THEN ROUND(hr.success_count * 100.0 / hr.usage_count, 2)
        ELSE 0.0
    END AS success_rate,
    COUNT(huh.id) AS recent_usage_count,
    AVG(huh.execution_time) AS recent_avg_execution_time,
    MAX(huh.created_at) AS last_used
FROM handler_registry hr
LEFT JOIN handler_usage_history huh
    ON hr.handler_type = huh.handler_type
   AND huh.created_at >= strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-30 days')
GROUP BY hr.id;
