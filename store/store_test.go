package store_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/bespin/bespin/internal/dbtest"
	"github.com/bespin/bespin/store"
)

func TestKind(t *testing.T) {
	t.Parallel()
	pg := func(code string) error { return fmt.Errorf("insert: %w", &pgconn.PgError{Code: code}) }
	for _, tc := range []struct {
		err  error
		want error
	}{
		{pg("23505"), store.ErrConflict},    // unique_violation
		{pg("22P05"), store.ErrInvalidData}, // untranslatable_character (\u0000 in jsonb)
		{pg("23514"), store.ErrInvalidData}, // check_violation
		{pg("08006"), store.ErrUnavailable}, // connection_failure
		{pg("57P01"), store.ErrUnavailable}, // admin_shutdown
		{pg("53300"), store.ErrUnavailable}, // too_many_connections
		{pg("40P01"), store.ErrUnavailable}, // deadlock_detected
		{pg("42P01"), nil},                  // undefined_table: a bug, not the client's
		{fmt.Errorf("read: %w", pgx.ErrNoRows), store.ErrNotFound},
		{fmt.Errorf("insert receipts: %w", io.ErrUnexpectedEOF), store.ErrUnavailable},
		{fmt.Errorf("commit: %w", pgconn.ErrConnClosed), store.ErrUnavailable},
		{context.DeadlineExceeded, store.ErrUnavailable},
		{errors.New("something else"), nil},
		{nil, nil},
	} {
		require.Equal(t, tc.want, store.Kind(tc.err), "%v", tc.err)
	}
}

// A connection that breaks mid-statement is "unavailable", however pgx
// reports it: the client must be told to retry, not that it failed.
func TestConnectionCutMidStatementIsUnavailable(t *testing.T) {
	t.Parallel()
	proxy, url := dbtest.NewProxy(t, dbtest.URL(t))
	pool, err := pgxpool.New(context.Background(), url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	st := store.New(pool)
	require.NoError(t, st.Ping(context.Background()))

	errc := make(chan error, 1)
	go func() {
		_, err := pool.Exec(context.Background(), "SELECT pg_sleep(5)")
		errc <- store.Classify(err, "sleep")
	}()
	time.Sleep(200 * time.Millisecond) // the statement is running
	proxy.Down()
	err = <-errc
	require.ErrorIs(t, err, store.ErrUnavailable, "got %v", err)

	// And while it stays down, new statements are unavailable too.
	require.ErrorIs(t, st.Ping(context.Background()), store.ErrUnavailable)
}

func TestListCursors(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	ctx := context.Background()
	st := store.New(pool)
	_, err := pool.Exec(ctx, `INSERT INTO river_job (kind, args, state, max_attempts)
		SELECT 'random-text', '{}', 'available', 1 FROM generate_series(1, 5)`)
	require.NoError(t, err)

	var seen []int64
	page := store.JobPage{}
	for first := true; first || page.Next != ""; first = false {
		page, err = st.ListJobs(ctx, store.JobFilter{Limit: 2, Cursor: page.Next})
		require.NoError(t, err)
		for _, j := range page.Jobs {
			seen = append(seen, j.ID)
		}
	}
	require.Len(t, seen, 5)
	require.IsDecreasing(t, seen, "newest first, each job once")

	// A cursor of one list is refused by another, and garbage is refused.
	jobCursor, err := st.ListJobs(ctx, store.JobFilter{Limit: 1})
	require.NoError(t, err)
	_, err = st.ListReceipts(ctx, store.ReceiptFilter{Limit: 1, Cursor: jobCursor.Next})
	require.ErrorIs(t, err, store.ErrBadCursor)
	_, err = st.ListJobs(ctx, store.JobFilter{Limit: 1, Cursor: "not a cursor"})
	require.ErrorIs(t, err, store.ErrBadCursor)

	_, err = st.Job(ctx, 1<<40)
	require.ErrorIs(t, err, store.ErrNotFound)
}
