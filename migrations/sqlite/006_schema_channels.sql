-- PostgreSQL only: the notification channels of a schema of the package's own. One process owns
-- an embedded SQLite database, so there is nothing to notify. This migration keeps the version
-- lists of both backends the same.
SELECT 1;
