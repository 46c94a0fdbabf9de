-- Notification channels of the package's own schema: a database may hold the package in more
-- than one schema (the `schema` option), and each must hear only of its own changes. Tables in
-- `public` keep the channel names of 005; in any other schema the channel is
-- '<name>.<schema>' (see notify.rs, which listens on the same names).
CREATE OR REPLACE FUNCTION workflow_infra_notify_changes() RETURNS trigger AS $$
DECLARE
    changed bigint;
    key text;
    channel text := 'workflow_infra_cache'
        || CASE WHEN TG_TABLE_SCHEMA = 'public' THEN '' ELSE '.' || TG_TABLE_SCHEMA END;
BEGIN
    SELECT count(*) INTO changed FROM changed_rows;
    IF changed > 100 THEN
        PERFORM pg_notify(channel, TG_ARGV[0] || ':*');
    ELSE
        FOR key IN EXECUTE format('SELECT DISTINCT %I::text FROM changed_rows', TG_ARGV[1]) LOOP
            PERFORM pg_notify(channel, TG_ARGV[0] || ':' || key);
        END LOOP;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
