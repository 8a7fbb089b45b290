-- Job state changes reach WebSocket watchers through NOTIFY on the channel
-- bespin_jobs. River sends no notification when a job changes state, so
-- Bespin adds statement-level triggers with transition tables: a statement
-- that touches many jobs (River fetches and completes jobs in batches) costs
-- one NOTIFY per 100 changed jobs, not one per job. See the realtime
-- package comment for the measurement behind this choice.
--
-- Payload: {"at": <epoch seconds of the change>, "jobs": [[<id>, "<state>"], ...]}
-- at most 100 jobs, so well under 4 kB (NOTIFY's limit is 8000 bytes).
-- "deleted" stands for a deleted job that was not yet finalized; deleting
-- finished jobs (River's cleaner) notifies nothing: nobody can be watching
-- them.
--
-- These are Bespin's own objects beside River's table; River's migrations
-- are untouched.
CREATE FUNCTION bespin_job_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    ids     bigint[];
    states  text[];
    payload text;
BEGIN
    -- Transition tables exist only for their own event, so each branch
    -- reads only what its trigger defines.
    IF TG_OP = 'UPDATE' THEN
        SELECT array_agg(n.id ORDER BY n.id), array_agg(n.state::text ORDER BY n.id)
        INTO ids, states
        FROM bespin_new_jobs n
        JOIN bespin_old_jobs o ON o.id = n.id
        WHERE n.state <> o.state OR n.attempt <> o.attempt;
    ELSE
        SELECT array_agg(o.id ORDER BY o.id), array_agg('deleted'::text ORDER BY o.id)
        INTO ids, states
        FROM bespin_old_jobs o
        WHERE o.state NOT IN ('completed', 'discarded', 'cancelled');
    END IF;

    IF ids IS NULL THEN
        RETURN NULL;
    END IF;

    FOR payload IN
        SELECT json_build_object(
                   'at', extract(epoch FROM clock_timestamp()),
                   'jobs', json_agg(json_build_array(u.id, u.state) ORDER BY u.ord)
               )::text
        FROM unnest(ids, states) WITH ORDINALITY AS u(id, state, ord)
        GROUP BY (u.ord - 1) / 100
        ORDER BY (u.ord - 1) / 100
    LOOP
        PERFORM pg_notify('bespin_jobs', payload);
    END LOOP;
    RETURN NULL;
END;
$$;

-- Postgres allows transition tables only on single-event triggers, hence two.
-- Inserts notify nothing, on purpose: Postgres serialises the commits of
-- all transactions that issued a NOTIFY, so a NOTIFY in every job-creating
-- (or webhook-storing) transaction caps those at one commit per WAL flush.
-- A new job is "pending" and its creator already knows that; a watcher's
-- first message is read from the row; the first change after insert
-- (running, or cancelled) is an UPDATE and is notified.
CREATE TRIGGER bespin_job_notify_update
    AFTER UPDATE ON river_job
    REFERENCING OLD TABLE AS bespin_old_jobs NEW TABLE AS bespin_new_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION bespin_job_notify();

CREATE TRIGGER bespin_job_notify_delete
    AFTER DELETE ON river_job
    REFERENCING OLD TABLE AS bespin_old_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION bespin_job_notify();
