-- CREATE TABLE webhook_receipts (
--     id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
--     source       text        NOT NULL,
--     event        text        NOT NULL,
--     delivery_id  text,                      -- unique per source when set
--     body         bytea       NOT NULL,      -- raw body, byte for byte
--     payload      jsonb       NOT NULL,
--     headers      jsonb       NOT NULL DEFAULT '{}',  -- redacted
--     signature    text        NOT NULL DEFAULT '',
--     verified     boolean     NOT NULL,
--     client_addr  inet,
--     created_at   timestamptz NOT NULL DEFAULT now(),
--     processed_at timestamptz
-- );

-- name: WebhookReceiptInsert :one
-- Stores a delivery unless (source, delivery_id) is already stored: then no
-- row comes back (pgx.ErrNoRows) and the caller reads the original. A
-- concurrent insert of the same delivery waits for the first to commit or
-- roll back, so exactly one wins.
INSERT INTO webhook_receipts (source, event, delivery_id, body, payload, headers, signature, verified, client_addr)
VALUES (@source, @event, sqlc.narg(delivery_id), @body, @payload, @headers, @signature, @verified, sqlc.narg(client_addr))
ON CONFLICT (source, delivery_id) WHERE delivery_id IS NOT NULL DO NOTHING
RETURNING *;

-- name: WebhookReceiptGetByID :one
SELECT * FROM webhook_receipts WHERE id = @id;

-- name: WebhookReceiptGetByDeliveryID :one
SELECT * FROM webhook_receipts WHERE source = @source AND delivery_id = @delivery_id;

-- name: WebhookReceiptGetForUpdate :one
-- Locks the receipt while its handlers run, so two attempts of its job can
-- never run them at once.
SELECT * FROM webhook_receipts WHERE id = @id FOR UPDATE;

-- name: WebhookReceiptSetProcessed :exec
UPDATE webhook_receipts SET processed_at = now() WHERE id = @id;

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
