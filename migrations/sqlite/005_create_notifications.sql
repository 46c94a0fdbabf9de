-- Cross-process notifications (cache invalidation triggers, the distributed event table) exist
-- on PostgreSQL only: one process owns an embedded SQLite database and tells its own caches
-- directly. This migration keeps the version lists of both backends the same.
SELECT 1;
