-- name: WebhookReceiptGetByID :one
SELECT * FROM webhook_receipts WHERE id = @id;
