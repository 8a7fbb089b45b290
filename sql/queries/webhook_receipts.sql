-- CREATE TABLE webhook_receipts (
--     id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
--     source       text        NOT NULL,
--     event        text        NOT NULL,
--     delivery_id  text,                      -- unique per source when set
--     content_sha256 bytea,                   -- without a delivery id: SHA-256 of body (000014)
--     body         bytea       NOT NULL,      -- raw body, byte for byte
--     payload      jsonb       NOT NULL,
--     headers      jsonb       NOT NULL DEFAULT '{}',  -- redacted
--     signature    text        NOT NULL DEFAULT '',
--     verified     boolean     NOT NULL,
--     client_addr  inet,
--     created_at   timestamptz NOT NULL DEFAULT now(),
--     processed_at timestamptz
-- );

-- name: WebhookReceiptInsertMany :many
-- Stores a batch of deliveries in one statement (package ingest commits
-- concurrent deliveries together), each unless it is stored already: by
-- (source, delivery_id), forever; or, for a delivery without an id, by
-- (source, content_sha256) within the last @content_window_seconds. Rows
-- not stored do not come back, and the caller reads the originals. The
-- caller chooses the ids, so each returned row can be matched to its
-- delivery. A concurrent insert of the same delivery id waits for the
-- first to commit or roll back, so exactly one wins; for the same content
-- the caller holds WebhookReceiptLockContent's locks. An empty string (or
-- bytea) stands for NULL: none of these columns can be empty.
INSERT INTO webhook_receipts (id, source, event, delivery_id, content_sha256, body, payload, headers, signature, verified, client_addr)
SELECT d.id, d.source, d.event, NULLIF(d.delivery_id, ''), NULLIF(d.content_sha256, ''::bytea), d.body, d.payload, d.headers, d.signature, d.verified, NULLIF(d.client_addr, '')::inet
FROM (SELECT unnest(@ids::uuid[]) AS id, unnest(@sources::text[]) AS source, unnest(@events::text[]) AS event,
             unnest(@delivery_ids::text[]) AS delivery_id, unnest(@content_sha256s::bytea[]) AS content_sha256,
             unnest(@bodies::bytea[]) AS body,
             unnest(@payloads::jsonb[]) AS payload, unnest(@headers::jsonb[]) AS headers,
             unnest(@signatures::text[]) AS signature, unnest(@verified::boolean[]) AS verified,
             unnest(@client_addrs::text[]) AS client_addr) AS d
WHERE d.content_sha256 = ''::bytea
   OR NOT EXISTS (SELECT 1 FROM webhook_receipts w
                  WHERE w.source = d.source AND w.content_sha256 = d.content_sha256
                    AND w.created_at > now() - make_interval(secs => @content_window_seconds::float8))
ON CONFLICT (source, delivery_id) WHERE delivery_id IS NOT NULL DO NOTHING
RETURNING *;

-- name: WebhookReceiptLockContent :exec
-- Takes a transaction-scoped advisory lock per content key (see package
-- ingest), in the order given: callers sort the keys, so two batches never
-- wait for each other in a cycle. unnest yields the array in order.
SELECT pg_advisory_xact_lock(k) FROM unnest(@keys::bigint[]) AS k;

-- name: WebhookReceiptGetByID :one
SELECT * FROM webhook_receipts WHERE id = @id;

-- name: WebhookReceiptGetByIDs :many
SELECT * FROM webhook_receipts WHERE id = ANY(@ids::uuid[]);

-- name: WebhookReceiptGetByDeliveryIDs :many
-- The stored receipts of (source, delivery id) pairs, given as two arrays
-- of equal length.
SELECT * FROM webhook_receipts
WHERE (source, delivery_id) IN (SELECT unnest(@sources::text[]), unnest(@delivery_ids::text[]));

-- name: WebhookReceiptGetByContent :many
-- The newest stored receipt of each (source, content_sha256) pair, given
-- as two arrays of equal length.
SELECT DISTINCT ON (source, content_sha256) * FROM webhook_receipts
WHERE (source, content_sha256) IN (SELECT unnest(@sources::text[]), unnest(@content_sha256s::bytea[]))
ORDER BY source, content_sha256, created_at DESC;

-- name: WebhookReceiptGetForUpdate :one
-- Locks the receipt while its handlers run, so two attempts of its job can
-- never run them at once.
SELECT * FROM webhook_receipts WHERE id = @id FOR UPDATE;

-- name: WebhookReceiptSetProcessed :exec
UPDATE webhook_receipts SET processed_at = now() WHERE id = @id;

-- name: WebhookReceiptClearProcessed :exec
-- A replay: the receipt waits for processing again, in the transaction
-- that enqueues its new process-webhook job.
UPDATE webhook_receipts SET processed_at = NULL WHERE id = @id;

-- name: WebhookReceiptList :many
-- Newest first, keyset-paginated on (created_at, id). Body and payload are
-- only read when asked for.
SELECT id, source, event, delivery_id, signature, verified, client_addr, created_at, processed_at,
    (CASE WHEN @with_payload::boolean THEN payload END)::jsonb AS payload,
    (CASE WHEN @with_body::boolean THEN body END)::bytea AS body
FROM webhook_receipts
WHERE (sqlc.narg(source)::text IS NULL OR source = sqlc.narg(source))
  AND (sqlc.narg(event)::text IS NULL OR event = sqlc.narg(event))
  AND (sqlc.narg(since)::timestamptz IS NULL OR created_at >= sqlc.narg(since))
  AND (sqlc.narg(until)::timestamptz IS NULL OR created_at < sqlc.narg(until))
  AND (sqlc.narg(cursor_created_at)::timestamptz IS NULL
       OR (created_at, id) < (sqlc.narg(cursor_created_at), sqlc.narg(cursor_id)::uuid))
ORDER BY created_at DESC, id DESC
LIMIT @max_rows;

-- name: WebhookReceiptDeleteOlderThan :execrows
-- One retention batch: small, so no lock is held for long, and SKIP LOCKED
-- so it never waits on a receipt being processed.
DELETE FROM webhook_receipts
WHERE id IN (
    SELECT r.id FROM webhook_receipts r
    WHERE r.created_at < @cutoff
    ORDER BY r.created_at
    LIMIT @batch_size
    FOR UPDATE SKIP LOCKED
);
