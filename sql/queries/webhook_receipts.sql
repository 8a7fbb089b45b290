-- name: WebhookReceiptGetByID :one
SELECT * FROM webhook_receipts WHERE id = @id;

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
