-- Back to migration 000013's function.
CREATE OR REPLACE FUNCTION bespin_job_notify() RETURNS trigger
LANGUAGE plpgsql
SET enable_nestloop = off
AS $$
DECLARE
    ids       bigint[];
    states    text[];
    payload   text;
    -- NULL when unset; '' once a transaction-local value has ended.
    announced bigint[] := NULLIF(current_setting('bespin.announced_jobs', true), '')::bigint[];
BEGIN
    -- Transition tables exist only for their own event, so each branch
    -- reads only what its trigger defines.
    IF TG_OP = 'UPDATE' THEN
        SELECT array_agg(n.id ORDER BY n.id), array_agg(n.state::text ORDER BY n.id)
        INTO ids, states
        FROM bespin_new_jobs n
        JOIN bespin_old_jobs o ON o.id = n.id
        WHERE (n.state <> o.state OR n.attempt <> o.attempt)
          AND NOT EXISTS (SELECT FROM unnest(announced) AS a(id) WHERE a.id = n.id);
    ELSE
        SELECT array_agg(o.id ORDER BY o.id), array_agg('deleted'::text ORDER BY o.id)
        INTO ids, states
        FROM bespin_old_jobs o
        WHERE o.state NOT IN ('completed', 'discarded', 'cancelled')
          AND NOT EXISTS (SELECT FROM unnest(announced) AS a(id) WHERE a.id = o.id);
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
