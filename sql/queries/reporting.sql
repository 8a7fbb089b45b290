-- Queries over the reporting schema (sql/migrations/000011_reporting.up.sql).

-- name: WebhookStats :many
SELECT bucket::timestamptz AS bucket, source::text AS source, event::text AS event,
       receipts::bigint AS receipts, verified::bigint AS verified, processed::bigint AS processed,
       CASE WHEN processed > 0 THEN avg_processing_seconds::float8 END AS avg_processing_seconds,
       CASE WHEN processed > 0 THEN p95_processing_seconds::float8 END AS p95_processing_seconds
FROM reporting.webhook_stats(@bucket_width::text, @since::timestamptz, @until::timestamptz)
    AS s(bucket, source, event, receipts, verified, processed, avg_processing_seconds, p95_processing_seconds)
WHERE (sqlc.narg('source')::text IS NULL OR source = sqlc.narg('source')::text)
  AND (sqlc.narg('event')::text IS NULL OR event = sqlc.narg('event')::text)
ORDER BY 1 DESC, 2, 3
LIMIT @max_rows;

-- name: JobCountsNow :many
SELECT kind, queue, state, jobs FROM reporting.jobs_now;
