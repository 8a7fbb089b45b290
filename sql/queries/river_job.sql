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
--     metadata     jsonb NOT NULL DEFAULT '{}', -- River's output recording: metadata->'output'
--     ...
-- );
--
-- updated_at is derived: River keeps no such column, so it is the latest of
-- the times River does record (created, attempted, finalized, last error).

-- name: JobStatusGetMany :many
SELECT
    id,
    kind,
    state,
    attempt,
    attempted_at,
    COALESCE(metadata -> 'output', 'null'::jsonb)::jsonb AS output,
    COALESCE(errors[cardinality(errors)] ->> 'error', '')::text AS last_error,
    GREATEST(created_at, attempted_at, finalized_at, (errors[cardinality(errors)] ->> 'at')::timestamptz)::timestamptz AS updated_at
FROM river_job
WHERE id = ANY(@ids::bigint[])
ORDER BY id;

-- JobStatusList is newest first, keyset-paginated on id (River's ids only
-- grow). It leaves out the recorded output, which may be 100 kB per job.
-- name: JobStatusList :many
SELECT
    id,
    kind,
    state,
    attempt,
    COALESCE(errors[cardinality(errors)] ->> 'error', '')::text AS last_error,
    GREATEST(created_at, attempted_at, finalized_at, (errors[cardinality(errors)] ->> 'at')::timestamptz)::timestamptz AS updated_at
FROM river_job
WHERE id < @before_id::bigint
  AND (cardinality(@states::text[]) = 0 OR state::text = ANY(@states::text[]))
  AND (@kind::text = '' OR kind = @kind::text)
ORDER BY id DESC
LIMIT @max_rows::int;
