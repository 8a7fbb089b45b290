-- river_job is River's table (sql/migrations/000002 and later, generated
-- from River's own migrations); Bespin only reads it. Its shape, as far as
-- these queries care:
--
-- CREATE TABLE river_job (
--     id           bigserial PRIMARY KEY,
--     state        river_job_state NOT NULL DEFAULT 'available',
--     attempt      smallint NOT NULL DEFAULT 0,
--     attempted_at timestamptz,
--     created_at   timestamptz NOT NULL DEFAULT now(),
--     finalized_at timestamptz,
--     errors       jsonb[],      -- one {"at", "attempt", "error", "trace"} per failed attempt
--     kind         text NOT NULL,
--     metadata     jsonb NOT NULL DEFAULT '{}', -- River's output recording: metadata->'output';
--                                                  -- Bespin's watch token hash: metadata->>'watch_token_sha256'
--     ...
-- );
--
-- Statuses are read through the bespin_job_status view (migration 000012),
-- which derives last_error and updated_at in one place.

-- name: JobStatusGetMany :many
SELECT id, kind, state, attempt, attempted_at, output::jsonb AS output,
       last_error::text AS last_error, updated_at::timestamptz AS updated_at
FROM bespin_job_status
WHERE id = ANY(@ids::bigint[])
ORDER BY id;

-- name: JobStatusGetForUpdate :one
-- One job, its river_job row locked until the transaction ends, so that a
-- change decided on its state (cancel, retry, delete) is made on that
-- state: River neither fetches (SKIP LOCKED) nor completes it meanwhile.
SELECT id, kind, state, attempt, attempted_at, output::jsonb AS output,
       last_error::text AS last_error, updated_at::timestamptz AS updated_at
FROM bespin_job_status
WHERE id = @id
FOR UPDATE;

-- name: JobWatchTokenHash :one
-- The SHA-256 (hex) of the job's watch token, set at creation by the API
-- (store.WatchTokenMetadataKey); '' for jobs created without one.
SELECT coalesce(metadata ->> 'watch_token_sha256', '')::text AS watch_token_sha256
FROM river_job
WHERE id = @id;

-- JobStatusList is newest first, keyset-paginated on id (River's ids only
-- grow). It leaves out the recorded output, which may be 100 kB per job.
-- name: JobStatusList :many
SELECT id, kind, state, attempt, attempted_at, last_error::text AS last_error,
       updated_at::timestamptz AS updated_at
FROM bespin_job_status
WHERE id < @before_id::bigint
  AND (cardinality(@states::text[]) = 0 OR state::text = ANY(@states::text[]))
  AND (@kind::text = '' OR kind = @kind::text)
ORDER BY id DESC
LIMIT @max_rows::int;

-- JobsAnnouncedSet names, for the rest of the current transaction, the jobs
-- whose changes the transaction announces itself after commit: the job
-- status triggers leave them out of their NOTIFY (migration 000013).
-- name: JobsAnnouncedSet :exec
SELECT set_config('bespin.announced_jobs', CAST(@ids::bigint[] AS text), true);
