-- Distributed events survive a listener's reconnection: every event is kept in
-- workflow_infra_events (for the retention the package sets), with its origin and type, and
-- NOTIFY only wakes the listeners, which read what they have not seen yet by id. Rows written
-- before this migration (large payloads only) have no type: their notification carries it.
ALTER TABLE workflow_infra_events ADD COLUMN origin TEXT;
ALTER TABLE workflow_infra_events ADD COLUMN event_type TEXT;
