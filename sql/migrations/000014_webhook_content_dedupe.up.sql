-- Deliveries that carry no delivery id are de-duplicated by content within
-- WEBHOOK_DEDUPE_WINDOW (package ingest explains the design): such a
-- receipt keeps the SHA-256 of its raw body here; receipts with a delivery
-- id, or stored with the window off, keep NULL.
ALTER TABLE webhook_receipts ADD COLUMN content_sha256 bytea;
ALTER TABLE webhook_receipts ADD CONSTRAINT content_sha256_length CHECK (octet_length(content_sha256) = 32);

-- "Is there a receipt of this body from this source since <window start>?"
-- Partial: only receipts without a delivery id are in it. Existing rows
-- are all NULL, so building it reads the table once and writes nothing.
CREATE INDEX webhook_receipts_source_content_sha256_idx
    ON webhook_receipts (source, content_sha256, created_at DESC)
    WHERE content_sha256 IS NOT NULL;
