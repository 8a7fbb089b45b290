-- Statements about the server rather than a table.

-- name: Ping :exec
SELECT 1;

-- NotifyMany sends each payload on its channel, in order, in one
-- statement: one transaction, one commit, however many payloads. Sent
-- outside any data transaction (see realtime.Announcer: a NOTIFY inside a
-- data transaction serialises its commit).
-- name: NotifyMany :exec
SELECT pg_notify((@channels::text[])[i], (@payloads::text[])[i])
FROM generate_subscripts(@channels::text[], 1) AS i;

-- name: Autovacuum :one
-- Whether autovacuum runs on this server: without it nothing removes dead
-- rows or refreshes the planner's statistics.
SELECT current_setting('autovacuum')::bool AS enabled;
