-- The reporting schema: documented views for analysts (docs/reporting.md).
-- Views run with their owner's rights, so the bespin_reporting role reads
-- them without any right on the tables underneath: it never sees raw
-- bodies, headers or signatures, and can write nothing.
CREATE SCHEMA reporting;
COMMENT ON SCHEMA reporting IS 'Read-only views over Bespin data for analysts; see docs/reporting.md.';

-- One definition of webhook receipt statistics, used by the views below and
-- by GET /api/webhooks/stats. SECURITY DEFINER (with a fixed search_path)
-- so reporting roles need no right on the table; the caller's time range
-- still reaches the created_at index inside it.
CREATE FUNCTION reporting.webhook_stats(bucket_width text, since timestamptz, until timestamptz)
RETURNS TABLE (
    bucket                   timestamptz,
    source                   text,
    event                    text,
    receipts                 bigint,
    verified                 bigint,
    processed                bigint,
    avg_processing_seconds   double precision,
    p95_processing_seconds   double precision
)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT date_trunc(bucket_width, r.created_at, 'UTC') AS bucket,
           r.source,
           r.event,
           count(*) AS receipts,
           count(*) FILTER (WHERE r.verified) AS verified,
           count(r.processed_at) AS processed,
           avg(extract(epoch FROM r.processed_at - r.created_at))::double precision AS avg_processing_seconds,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM r.processed_at - r.created_at))::double precision AS p95_processing_seconds
    FROM public.webhook_receipts r
    WHERE r.created_at >= since AND r.created_at < until
    GROUP BY 1, 2, 3
$$;

CREATE VIEW reporting.webhook_receipts_daily AS
    SELECT * FROM reporting.webhook_stats('day', '-infinity', 'infinity')
        AS s(day, source, event, receipts, verified, processed, avg_processing_seconds, p95_processing_seconds);
COMMENT ON VIEW reporting.webhook_receipts_daily IS 'Webhook receipts per UTC day, source and event: counts, verified, processed, processing delay.';

CREATE VIEW reporting.webhook_receipts_hourly AS
    SELECT * FROM reporting.webhook_stats('hour', '-infinity', 'infinity')
        AS s(hour, source, event, receipts, verified, processed, avg_processing_seconds, p95_processing_seconds);
COMMENT ON VIEW reporting.webhook_receipts_hourly IS 'Webhook receipts per UTC hour, source and event.';

-- Receipt metadata without the body, payload, headers or signature.
CREATE VIEW reporting.webhook_receipts AS
    SELECT id, source, event, delivery_id, verified, client_addr, created_at, processed_at,
           extract(epoch FROM processed_at - created_at)::double precision AS processing_seconds
    FROM public.webhook_receipts;
COMMENT ON VIEW reporting.webhook_receipts IS 'One row per receipt, without body, payload, headers or signature.';

-- Receipts not processed yet, oldest first: a growing list means the
-- process-webhook jobs are failing or not being worked.
CREATE VIEW reporting.webhook_backlog AS
    SELECT id, source, event, created_at, now() - created_at AS waiting
    FROM public.webhook_receipts
    WHERE processed_at IS NULL
    ORDER BY created_at;
COMMENT ON VIEW reporting.webhook_backlog IS 'Receipts not yet processed, oldest first.';

-- SendGrid posts batches of events and repeats events across batches; one
-- row per distinct sg_event_id (the first time it was received).
CREATE VIEW reporting.sendgrid_events AS
    SELECT DISTINCT ON (e.value ->> 'sg_event_id')
           e.value ->> 'sg_event_id' AS sg_event_id,
           e.value ->> 'event' AS event,
           e.value ->> 'email' AS email,
           to_timestamp((e.value ->> 'timestamp')::double precision) AS occurred_at,
           e.value ->> 'sg_message_id' AS sg_message_id,
           r.id AS receipt_id,
           r.created_at AS received_at
    FROM public.webhook_receipts r
    CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(r.payload) = 'array' THEN r.payload ELSE '[]'::jsonb END) AS e(value)
    WHERE r.source = 'sendgrid' AND e.value ? 'sg_event_id'
          AND (e.value ->> 'timestamp') ~ '^[0-9]+(\.[0-9]+)?$'
    ORDER BY e.value ->> 'sg_event_id', r.created_at;
COMMENT ON VIEW reporting.sendgrid_events IS 'SendGrid events unnested from their batches, de-duplicated by sg_event_id.';

-- Jobs per UTC day (of creation), kind and state, with run and wait times
-- of the last attempt.
CREATE VIEW reporting.jobs_daily AS
    SELECT date_trunc('day', created_at, 'UTC') AS day,
           kind,
           state::text AS state,
           count(*) AS jobs,
           avg(attempt)::double precision AS avg_attempts,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finalized_at - attempted_at))::double precision AS p50_run_seconds,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM finalized_at - attempted_at))::double precision AS p95_run_seconds,
           max(extract(epoch FROM finalized_at - attempted_at))::double precision AS max_run_seconds,
           avg(extract(epoch FROM attempted_at - scheduled_at))::double precision AS avg_wait_seconds
    FROM public.river_job
    GROUP BY 1, 2, 3;
COMMENT ON VIEW reporting.jobs_daily IS 'Jobs per UTC day, kind and state with run-time percentiles and queue wait.';

-- What is in the queue right now, per kind and state.
CREATE VIEW reporting.jobs_now AS
    SELECT kind, queue, state::text AS state, count(*) AS jobs,
           min(scheduled_at) FILTER (WHERE state IN ('available', 'scheduled', 'retryable', 'pending')) AS oldest_waiting_since
    FROM public.river_job
    GROUP BY 1, 2, 3;
COMMENT ON VIEW reporting.jobs_now IS 'Current jobs per kind, queue and state.';

-- Failed attempts, newest first, with River's recorded error.
CREATE VIEW reporting.job_errors AS
    SELECT j.id AS job_id, j.kind, j.state::text AS state, j.attempt,
           (e.value ->> 'at')::timestamptz AS failed_at,
           (e.value ->> 'attempt')::int AS error_attempt,
           e.value ->> 'error' AS error
    FROM public.river_job j
    CROSS JOIN LATERAL jsonb_array_elements(to_jsonb(j.errors)) AS e(value)
    WHERE j.errors IS NOT NULL;
COMMENT ON VIEW reporting.job_errors IS 'One row per failed job attempt, with the error River recorded.';

-- The role analysts' login roles are granted. Roles are cluster-wide, so
-- another database on this server may have created it already.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bespin_reporting') THEN
        CREATE ROLE bespin_reporting NOLOGIN;
    END IF;
END
$$;
GRANT USAGE ON SCHEMA reporting TO bespin_reporting;
GRANT SELECT ON ALL TABLES IN SCHEMA reporting TO bespin_reporting;
REVOKE EXECUTE ON FUNCTION reporting.webhook_stats(text, timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION reporting.webhook_stats(text, timestamptz, timestamptz) TO bespin_reporting;
ALTER DEFAULT PRIVILEGES IN SCHEMA reporting GRANT SELECT ON TABLES TO bespin_reporting;
