-- Statements about the server rather than a table.

-- name: Ping :exec
SELECT 1;

-- name: Notify :exec
-- Sent outside any data transaction (see realtime.Announcer: a NOTIFY
-- inside a data transaction serialises its commit).
SELECT pg_notify(@channel::text, @payload::text);
