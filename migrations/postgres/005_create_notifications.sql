-- Cross-process news on one PostgreSQL database.
-- 1. Cache invalidation: after any statement that changes executions or handlers (whoever runs
--    it), notify 'workflow_infra_cache' with 'e:<execution_id>' / 'h:<handler_type>' per row,
--    or 'e:*' / 'h:*' when a statement changed more than 100 rows. NOTIFY is transactional:
--    listeners hear of a change only once it is committed.
-- 2. Distributed events: payloads too long for NOTIFY (8000 bytes) are stored here and the
--    notification carries the row id; rows older than a minute are removed by publishers.

-- One trigger function for both tables: TG_ARGV[0] is the payload prefix, TG_ARGV[1] the key
-- column.
CREATE FUNCTION workflow_infra_notify_changes() RETURNS trigger AS $$
DECLARE
    changed bigint;
    key text;
BEGIN
    SELECT count(*) INTO changed FROM changed_rows;
    IF changed > 100 THEN
        PERFORM pg_notify('workflow_infra_cache', TG_ARGV[0] || ':*');
    ELSE
        FOR key IN EXECUTE format('SELECT DISTINCT %I::text FROM changed_rows', TG_ARGV[1]) LOOP
            PERFORM pg_notify('workflow_infra_cache', TG_ARGV[0] || ':' || key);
        END LOOP;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER workflow_infra_executions_updated
    AFTER UPDATE ON workflow_executions
    REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION workflow_infra_notify_changes('e', 'execution_id');

CREATE TRIGGER workflow_infra_executions_deleted
    AFTER DELETE ON workflow_executions
    REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION workflow_infra_notify_changes('e', 'execution_id');

CREATE TRIGGER workflow_infra_handlers_inserted
    AFTER INSERT ON handler_registry
    REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION workflow_infra_notify_changes('h', 'handler_type');

CREATE TRIGGER workflow_infra_handlers_updated
    AFTER UPDATE ON handler_registry
    REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION workflow_infra_notify_changes('h', 'handler_type');

CREATE TRIGGER workflow_infra_handlers_deleted
    AFTER DELETE ON handler_registry
    REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION workflow_infra_notify_changes('h', 'handler_type');

CREATE TABLE workflow_infra_events (
    id BIGSERIAL PRIMARY KEY,
    payload TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX idx_workflow_infra_events_created_at ON workflow_infra_events(created_at);
