-- Distributed events are read in commit order, not by time: each row records the transaction
-- that wrote it (tx_id), so a listener knows which rows can still appear below the highest id it
-- has read (those of transactions in progress when it read) and waits for exactly those, however
-- long they take to commit. Rows written before this migration have no tx_id: all committed.
ALTER TABLE workflow_infra_events ADD COLUMN tx_id BIGINT;
ALTER TABLE workflow_infra_events ALTER COLUMN tx_id SET DEFAULT (pg_current_xact_id()::text::bigint);
CREATE INDEX idx_workflow_infra_events_tx_id ON workflow_infra_events(tx_id);

-- A publisher's own event id: a retry of a publish that may have landed is delivered once.
ALTER TABLE workflow_infra_events ADD COLUMN event_id TEXT;
CREATE UNIQUE INDEX idx_workflow_infra_events_event_id ON workflow_infra_events(event_id)
    WHERE event_id IS NOT NULL;

-- The highest id the retention has removed: a listener that had not read that far missed events
-- and says so (its `gap` signal) instead of losing them silently.
CREATE TABLE workflow_infra_events_pruned (
    singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    up_to BIGINT NOT NULL
);
INSERT INTO workflow_infra_events_pruned (up_to) VALUES (0);
