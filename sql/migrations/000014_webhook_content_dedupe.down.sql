DROP INDEX IF EXISTS webhook_receipts_source_content_sha256_idx;
ALTER TABLE webhook_receipts DROP COLUMN IF EXISTS content_sha256;
