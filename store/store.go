// Package store is Bespin's storage layer: the only package that imports
// the sqlc-generated package db. It returns Bespin's own types (Job,
// Receipt, WebhookStat, ...), maps rows to them in one place, owns the
// opaque cursors of list endpoints, and classifies database errors (Kind)
// for every caller, so that "the database is unreachable" means the same
// thing to the HTTP API, webhook ingestion and the workers.
//
// It is a package of its own rather than methods on the packages that use
// the rows because the same rows have several readers: a job's status is
// read by the HTTP API and the realtime feed; a receipt by the HTTP API,
// ingestion and the process-webhook worker. River keeps its dbsqlc package
// internal behind its driver in the same way.
//
// A Store runs its queries on whatever it was made with: New(pool) for
// standalone statements, New(tx) inside a transaction the caller owns
// (ingestion stores receipts and enqueues their jobs in one).
package store

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/bespin/bespin/db"
)

// DBTX is what a Store runs queries on: a *pgxpool.Pool, a pgx.Tx or a
// *pgx.Conn.
type DBTX interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Store reads and writes Bespin's rows.
type Store struct {
	conn DBTX
	q    *db.Queries
}

// New returns a Store that runs its queries on conn.
func New(conn DBTX) *Store {
	return &Store{conn: conn, q: db.New()}
}

// NotifyMany sends payloads[i] on channels[i], in order, in one
// statement. Run it on a connection of its own, never inside a data
// transaction: Postgres serialises the commits of transactions that
// notified (see realtime.Announcer).
func (s *Store) NotifyMany(ctx context.Context, channels, payloads []string) error {
	return Classify(s.q.NotifyMany(ctx, s.conn, db.NotifyManyParams{Channels: channels, Payloads: payloads}), "notify")
}

// Autovacuum reports whether the server runs autovacuum.
func (s *Store) Autovacuum(ctx context.Context) (bool, error) {
	on, err := s.q.Autovacuum(ctx, s.conn)
	return on, Classify(err, "read autovacuum")
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	return Classify(s.q.Ping(ctx, s.conn), "ping")
}
