-- Every verified webhook delivery, stored once per (source, delivery_id).
CREATE TABLE webhook_receipts (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    source       text        NOT NULL,
    event        text        NOT NULL,
    -- Provider delivery id (GitHub X-GitHub-Delivery, Stripe event id,
    -- SendGrid body hash, webhook-id, Idempotency-Key); NULL when the
    -- delivery carried none, in which case it cannot be de-duplicated.
    delivery_id  text,
    -- The request body exactly as received, so a signature can be
    -- re-checked and a delivery replayed.
    body         bytea       NOT NULL,
    payload      jsonb       NOT NULL,
    -- Request headers with secrets and signatures redacted.
    headers      jsonb       NOT NULL DEFAULT '{}',
    signature    text        NOT NULL DEFAULT '',
    verified     boolean     NOT NULL,
    client_addr  inet,
    created_at   timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz,

    CONSTRAINT source_format CHECK (source ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
    CONSTRAINT event_length CHECK (char_length(event) BETWEEN 1 AND 255),
    CONSTRAINT delivery_id_length CHECK (char_length(delivery_id) BETWEEN 1 AND 255)
);

-- The idempotency guarantee: Redis is only the fast path.
CREATE UNIQUE INDEX webhook_receipts_source_delivery_id_key
    ON webhook_receipts (source, delivery_id) WHERE delivery_id IS NOT NULL;

-- Keyset pagination, newest first, overall and per source.
CREATE INDEX webhook_receipts_created_at_id_idx ON webhook_receipts (created_at DESC, id DESC);
CREATE INDEX webhook_receipts_source_created_at_id_idx ON webhook_receipts (source, created_at DESC, id DESC);

-- Filters of the read API and the reporting views: per event, and unprocessed
-- receipts (small: processed ones leave it).
CREATE INDEX webhook_receipts_event_created_at_id_idx ON webhook_receipts (event, created_at DESC, id DESC);
CREATE INDEX webhook_receipts_unprocessed_idx ON webhook_receipts (created_at) WHERE processed_at IS NULL;
