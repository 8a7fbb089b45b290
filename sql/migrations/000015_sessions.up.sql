-- Browser sessions (POST /api/session): a session is made from an API
-- token and is worth what that token is worth while it lasts. Kept in
-- Postgres so that every instance honours every session without a shared
-- signing secret, and so that signing out ends it everywhere at once.
--
-- The cookie holds a random 32-byte secret; only its SHA-256 is stored, so
-- a copy of this table (a backup, say) signs nobody in. token_fingerprint
-- is HMAC-SHA256(secret, token): with the cookie in hand the server checks
-- that the token the session came from is still in API_TOKEN (removing a
-- token ends its sessions), while the table alone reveals nothing about
-- any token, not even a weak one, because the key is the secret it does
-- not store.
CREATE TABLE sessions (
    id_hash           bytea       PRIMARY KEY,
    token_fingerprint bytea       NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    expires_at        timestamptz NOT NULL,

    CONSTRAINT id_hash_length CHECK (octet_length(id_hash) = 32),
    CONSTRAINT token_fingerprint_length CHECK (octet_length(token_fingerprint) = 32),
    CONSTRAINT expires_after_created CHECK (expires_at > created_at)
);

-- Expired sessions are deleted at each sign-in (sql/queries/sessions.sql).
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);
