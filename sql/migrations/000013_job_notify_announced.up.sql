-- Jobs whose change the changing transaction announces itself are left out
-- of the job status triggers' NOTIFY (migration 000010).
--
-- Why: a NOTIFY inside a data transaction is the expensive part of a
-- commit (Postgres takes a database-wide lock for notifying commits and
-- holds it through the WAL flush). So Bespin's workers complete their own
-- jobs in a transaction that notifies nothing and, after commit, hand the
-- change to their process's announcer, which sends one batched NOTIFY on
-- bespin_jobs for many jobs, in the triggers' payload format, outside any
-- data transaction (realtime.Announcer).
--
-- How: such a transaction sets the transaction-local setting
-- bespin.announced_jobs to the ids it announces (a Postgres array literal,
-- '{42}'); the triggers skip exactly those ids. Every other change still
-- notifies from the trigger: River's fetch (running), retries and discards
-- by River's completer, cancels, retries and deletes from River UI, the
-- API or plain SQL, and anything else the same transaction does to other
-- jobs. A transaction-local setting ends with its transaction, so no other
-- transaction on the connection inherits it. The ids are matched with an
-- anti-join (hashed), not "<> ALL": a completion batch names hundreds of
-- ids, and "<> ALL" would compare every changed row with every one.
--
-- It also runs without nested-loop joins (SET enable_nestloop = off). The
-- transition tables have no statistics and PL/pgSQL caches its plans: a
-- plan made for a one-row statement joins old and new rows in a nested
-- loop, which is quadratic in the rows of every later statement on that
-- connection (measured: 1.6 s of CPU for one 2,000-row fetch, 3,998,000
-- rows removed by the join filter). River fetches and completes jobs in
-- batches of hundreds, so the join is hashed whatever sizes came first.
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
