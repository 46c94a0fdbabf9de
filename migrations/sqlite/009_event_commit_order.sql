-- PostgreSQL only: the distributed events' commit order, event ids and retention horizon. One
-- process owns an embedded SQLite database. This migration keeps the version lists of both
-- backends the same.
SELECT 1;
