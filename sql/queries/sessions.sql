-- CREATE TABLE sessions (
--     id_hash           bytea       PRIMARY KEY,   -- SHA-256 of the cookie's secret
--     token_fingerprint bytea       NOT NULL,      -- HMAC-SHA256(secret, API token)
--     created_at        timestamptz NOT NULL DEFAULT now(),
--     expires_at        timestamptz NOT NULL
-- );
--
-- Expiry is computed and checked with the database's clock only, so
-- instances with skewed clocks agree on it.

-- name: SessionInsert :one
INSERT INTO sessions (id_hash, token_fingerprint, expires_at)
VALUES (@id_hash, @token_fingerprint, now() + make_interval(secs => @ttl_seconds::float8))
RETURNING expires_at;

-- name: SessionGetByIDHash :one
-- A session that has not expired.
SELECT id_hash, token_fingerprint, created_at, expires_at FROM sessions
WHERE id_hash = @id_hash AND expires_at > now();

-- name: SessionDelete :exec
DELETE FROM sessions WHERE id_hash = @id_hash;

-- name: SessionDeleteExpired :execrows
-- Run at each sign-in; sign-ins are rate limited, so this stays small.
DELETE FROM sessions WHERE expires_at <= now();
