-- Back to migration 000016's function.
CREATE OR REPLACE FUNCTION bespin_job_notify() RETURNS trigger
LANGUAGE plpgsql
SET enable_nestloop = off
AS $$
DECLARE
    payload   text;
    -- The jobs this transaction announces itself (000013). NULL when
    -- unset; '' once a transaction-local value has ended.
    announced bigint[] := NULLIF(current_setting('bespin.announced_jobs', true), '')::bigint[];
    at        text := extract(epoch FROM clock_timestamp())::text;
BEGIN
    -- Transition tables exist only for their own event, so each branch
    -- reads only what its trigger defines.
    IF TG_OP = 'UPDATE' THEN
        FOR payload IN
            SELECT '{"at":' || at || ',"jobs":[' || string_agg('[' || c.id || ',"' || c.state || '"]', ',' ORDER BY c.id) || ']}'
            FROM (SELECT n.id, n.state::text AS state, (row_number() OVER (ORDER BY n.id) - 1) / 100 AS grp
                  FROM bespin_new_jobs n
                  JOIN bespin_old_jobs o ON o.id = n.id
                  WHERE (n.state <> o.state OR n.attempt <> o.attempt)
                    AND NOT EXISTS (SELECT FROM unnest(announced) AS a(id) WHERE a.id = n.id)) c
            GROUP BY c.grp
            ORDER BY c.grp
        LOOP
            PERFORM pg_notify('bespin_jobs', payload);
        END LOOP;
    ELSE
        FOR payload IN
            SELECT '{"at":' || at || ',"jobs":[' || string_agg('[' || c.id || ',"deleted"]', ',' ORDER BY c.id) || ']}'
            FROM (SELECT o.id, (row_number() OVER (ORDER BY o.id) - 1) / 100 AS grp
                  FROM bespin_old_jobs o
                  WHERE o.state NOT IN ('completed', 'discarded', 'cancelled')
                    AND NOT EXISTS (SELECT FROM unnest(announced) AS a(id) WHERE a.id = o.id)) c
            GROUP BY c.grp
            ORDER BY c.grp
        LOOP
            PERFORM pg_notify('bespin_jobs', payload);
        END LOOP;
    END IF;
    RETURN NULL;
END;
$$;
