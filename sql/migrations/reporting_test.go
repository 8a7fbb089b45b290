package migrations_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/bespin/bespin/internal/dbtest"
)

// reportingFixture is a database with receipts and jobs in it, and a login
// role that has been granted bespin_reporting and nothing else.
type reportingFixture struct {
	admin   *pgx.Conn // the database owner
	analyst *pgx.Conn // a login role in bespin_reporting
}

func setupReporting(t *testing.T) *reportingFixture {
	t.Helper()
	ctx := context.Background()
	dbURL := dbtest.URL(t)
	admin, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	t.Cleanup(func() { admin.Close(context.Background()) })

	b := make([]byte, 5)
	_, _ = rand.Read(b)
	role := "analyst_" + hex.EncodeToString(b)
	_, err = admin.Exec(ctx, "CREATE ROLE "+role+" LOGIN IN ROLE bespin_reporting")
	require.NoError(t, err)
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), dbtest.AdminURL(t))
		if err == nil {
			defer conn.Close(context.Background())
			_, _ = conn.Exec(context.Background(), "DROP ROLE IF EXISTS "+role)
		}
	})

	_, err = admin.Exec(ctx, `
		INSERT INTO webhook_receipts (source, event, delivery_id, body, payload, verified, created_at, processed_at) VALUES
		('github', 'push', 'd1', '\x7b7d', '{}', true, now() - interval '2 hours', now() - interval '2 hours' + interval '150 ms'),
		('github', 'push', 'd2', '\x7b7d', '{}', true, now() - interval '1 hour', now() - interval '1 hour' + interval '50 ms'),
		('stripe', 'invoice.paid', 'evt_1', '\x7b7d', '{}', true, now() - interval '30 minutes', NULL),
		('sendgrid', 'delivered', 'sha-a', '\x5b5d',
		 '[{"sg_event_id":"e1","event":"delivered","email":"a@example.com","timestamp":1795000000},
		   {"sg_event_id":"e2","event":"open","email":"a@example.com","timestamp":1795000100}]', true, now() - interval '20 minutes', now()),
		('sendgrid', 'open', 'sha-b', '\x5b5d',
		 '[{"sg_event_id":"e2","event":"open","email":"a@example.com","timestamp":1795000100},
		   {"sg_event_id":"e3","event":"click","email":"b@example.com","timestamp":1795000200}]', true, now() - interval '10 minutes', now())`)
	require.NoError(t, err)
	_, err = admin.Exec(ctx, `
		INSERT INTO river_job (kind, args, state, attempt, max_attempts, queue, priority, created_at, scheduled_at, attempted_at, finalized_at, errors) VALUES
		('random-text', '{}', 'completed', 1, 25, 'default', 1, now() - interval '1 hour', now() - interval '1 hour', now() - interval '1 hour' + interval '10 ms', now() - interval '1 hour' + interval '60 ms', NULL),
		('random-text', '{}', 'completed', 2, 25, 'default', 1, now() - interval '1 hour', now() - interval '1 hour', now() - interval '1 hour' + interval '1 s', now() - interval '1 hour' + interval '3 s',
		 ARRAY['{"at":"2026-11-20T10:00:00Z","attempt":1,"error":"temporary failure"}'::jsonb]),
		('process-webhook', '{}', 'discarded', 25, 25, 'default', 1, now() - interval '2 days', now() - interval '2 days', now() - interval '1 day', now() - interval '1 day',
		 ARRAY[jsonb_build_object('at', now() - interval '1 day', 'attempt', 25, 'error', 'handler failed')]),
		('random-text', '{}', 'available', 0, 25, 'default', 1, now(), now() - interval '5 seconds', NULL, NULL, NULL)`)
	require.NoError(t, err)

	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	u.User = url.User(role) // the test server trusts local connections
	analyst, err := pgx.Connect(ctx, u.String())
	require.NoError(t, err, "connecting as the analyst role")
	t.Cleanup(func() { analyst.Close(context.Background()) })
	return &reportingFixture{admin: admin, analyst: analyst}
}

var sqlBlockRE = regexp.MustCompile("(?s)```sql\n(.*?)```")

// Every query in docs/reporting.md runs, as a reporting role, and finds
// the data it is about.
func TestReportingDocQueries(t *testing.T) {
	t.Parallel()
	f := setupReporting(t)
	doc, err := os.ReadFile("../../docs/reporting.md")
	require.NoError(t, err)
	blocks := sqlBlockRE.FindAllStringSubmatch(string(doc), -1)
	require.NotEmpty(t, blocks)
	checked := 0
	for _, b := range blocks {
		query := b[1]
		if strings.Contains(query, "not part of the checked examples") {
			continue
		}
		rows, err := f.analyst.Query(context.Background(), query)
		require.NoError(t, err, "query:\n%s", query)
		n := 0
		for rows.Next() {
			n++
		}
		require.NoError(t, rows.Err(), "query:\n%s", query)
		require.Positive(t, n, "the documented query finds nothing in the fixture data:\n%s", query)
		checked++
	}
	require.GreaterOrEqual(t, checked, 6)
}

func TestReportingViews(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setupReporting(t)

	var receipts, verified, processed int
	require.NoError(t, f.analyst.QueryRow(ctx, `
		SELECT sum(receipts), sum(verified), sum(processed) FROM reporting.webhook_receipts_daily WHERE source = 'github'`).
		Scan(&receipts, &verified, &processed))
	require.Equal(t, []int{2, 2, 2}, []int{receipts, verified, processed})

	var avgMS float64
	require.NoError(t, f.analyst.QueryRow(ctx, `
		SELECT avg(processing_seconds) * 1000 FROM reporting.webhook_receipts WHERE source = 'github'`).Scan(&avgMS))
	require.InDelta(t, 100, avgMS, 1, "mean of 150 ms and 50 ms")

	var events []string
	rows, err := f.analyst.Query(ctx, `SELECT sg_event_id FROM reporting.sendgrid_events ORDER BY 1`)
	require.NoError(t, err)
	events, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{"e1", "e2", "e3"}, events, "e2 came in two batches and is counted once")

	var backlog int
	require.NoError(t, f.analyst.QueryRow(ctx, `SELECT count(*) FROM reporting.webhook_backlog`).Scan(&backlog))
	require.Equal(t, 1, backlog, "only the stripe receipt is unprocessed")

	var jobs int
	var p50 float64
	require.NoError(t, f.analyst.QueryRow(ctx, `
		SELECT jobs, p50_run_seconds FROM reporting.jobs_daily WHERE kind = 'random-text' AND state = 'completed'`).Scan(&jobs, &p50))
	require.Equal(t, 2, jobs)
	require.InDelta(t, 1.025, p50, 0.001, "median of 0.05 s and 2 s")

	var errorsSeen int
	require.NoError(t, f.analyst.QueryRow(ctx, `SELECT count(*) FROM reporting.job_errors`).Scan(&errorsSeen))
	require.Equal(t, 2, errorsSeen)
}

// The reporting role reads the views and nothing else: no raw receipts, no
// writes, no new objects.
func TestReportingRoleIsReadOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setupReporting(t)

	for _, stmt := range []string{
		`SELECT payload FROM public.webhook_receipts`,
		`SELECT body FROM webhook_receipts`,
		`SELECT args FROM river_job`,
		`INSERT INTO webhook_receipts (source, event, body, payload, verified) VALUES ('x', 'y', '\x00', '{}', true)`,
		`UPDATE river_job SET state = 'cancelled'`,
		`DELETE FROM reporting.webhook_receipts`,
		`CREATE TABLE reporting.mine (id int)`,
		`CREATE TABLE public.mine (id int)`,
	} {
		_, err := f.analyst.Exec(ctx, stmt)
		var pgErr *pgconn.PgError
		require.True(t, errors.As(err, &pgErr), "%s: expected a Postgres error, got %v", stmt, err)
		require.Contains(t, []string{"42501", "55000", "0A000"}, pgErr.Code, "%s: %s", stmt, pgErr.Message)
	}
}
