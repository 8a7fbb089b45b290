package main

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/bespin/bespin/internal/dbtest"
)

// Receipts older than WEBHOOK_RETENTION are pruned, in batches, by the
// periodic job that also runs at start; younger ones stay.
func TestWebhookRetention(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL := dbtest.URL(t)
	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `
		INSERT INTO webhook_receipts (source, event, body, payload, verified, created_at)
		SELECT 'test', 'old', '\x7b7d', '{}', true, now() - interval '3 days' - n * interval '1 second'
		FROM generate_series(1, 2500) AS n`) // more than two batches
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `
		INSERT INTO webhook_receipts (source, event, body, payload, verified, created_at)
		VALUES ('test', 'recent', '\x7b7d', '{}', true, now() - interval '1 day')`)
	require.NoError(t, err)

	srv := startServer(t, "DATABASE_URL="+dbURL, "WEBHOOK_RETENTION=2d")

	count := func(event string) int {
		var n int
		require.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM webhook_receipts WHERE event = $1", event).Scan(&n))
		return n
	}
	require.Eventually(t, func() bool { return count("old") == 0 }, 30*time.Second, 100*time.Millisecond)
	require.Equal(t, 1, count("recent"))
	require.Eventually(t, func() bool { return srv.logs.Contains(`"msg":"pruned webhook receipts","deleted":2500`) }, 5*time.Second, 50*time.Millisecond, srv.logs.String())
}

func TestWebhookRetentionZeroKeepsAll(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL := dbtest.URL(t)
	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `
		INSERT INTO webhook_receipts (source, event, body, payload, verified, created_at)
		VALUES ('test', 'ancient', '\x7b7d', '{}', true, now() - interval '3 years')`)
	require.NoError(t, err)
	srv := startServer(t, "DATABASE_URL="+dbURL, "WEBHOOK_RETENTION=0")
	require.NoError(t, srv.stop())
	var n int
	require.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM river_job WHERE kind = 'prune-webhook-receipts'").Scan(&n))
	require.Zero(t, n, "no prune job is scheduled with retention 0")
	require.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM webhook_receipts").Scan(&n))
	require.Equal(t, 1, n)
}
