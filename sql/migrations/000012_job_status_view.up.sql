-- bespin_job_status is a job as Bespin reports it (the job_status message,
-- GET /api/jobs): River's row with the two derived columns written once,
-- for every query that reads job statuses (sql/queries/river_job.sql).
--
-- last_error is the message of the last failed attempt ('' when none).
-- updated_at is derived: River keeps no such column, so it is the latest of
-- the times River does record (created, attempted, finalized, last error).
--
-- A view over river_job, like the reporting views: a future River migration
-- that changes a column this view reads must drop and re-create it (the
-- migration round-trip test would fail first).
CREATE VIEW bespin_job_status AS
SELECT
    id,
    kind,
    state,
    attempt,
    attempted_at,
    COALESCE(metadata -> 'output', 'null'::jsonb) AS output,
    COALESCE(errors[cardinality(errors)] ->> 'error', '') AS last_error,
    GREATEST(created_at, attempted_at, finalized_at, (errors[cardinality(errors)] ->> 'at')::timestamptz) AS updated_at
FROM river_job;
