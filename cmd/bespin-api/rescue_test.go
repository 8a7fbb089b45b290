package main

import (
	"context"
	"fmt"
	"log/slog"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/bespin/bespin/internal/dbtest"
	"github.com/bespin/bespin/internal/redistest"
	"github.com/bespin/bespin/jobs"
)

// kill -9 while process-webhook and random-text jobs run leaves them
// `running` in Postgres; after a restart River's rescuer runs them again
// once they have run for JOB_RESCUE_AFTER and their own timeout, so they
// complete within the configured times, not River's default hour.
func TestKilledProcessJobsAreRescued(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bin := buildBinary(t)
	dbURL := dbtest.URL(t)
	_, prefix := redistest.New(t)
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	const (
		jobTimeout   = 20 * time.Second
		rescueAfter  = 25 * time.Second
		delay        = 8 * time.Second // random-text's timeout: delay + jobTimeout
		webhookJobs  = 20
		rescuerEvery = 30 * time.Second // River's rescuer interval
		leaderTakes  = 21 * time.Second // River's leader TTL (15 s) + an election round (5-6 s)
	)
	env := []string{
		"DATABASE_URL=" + dbURL, "REDIS_ADDR=" + redistest.Addr(), "REDIS_KEY_PREFIX=" + prefix,
		fmt.Sprintf("PORT=%d", port), "LOG_FORMAT=json", "LOG_LEVEL=debug",
		"JOB_TIMEOUT=" + jobTimeout.String(), "JOB_RESCUE_AFTER=" + rescueAfter.String(),
	}
	pool, err := pgxpool.New(ctx, dbURL)
	require.NoError(t, err)
	defer pool.Close()

	// Receipts whose processing blocks while the test holds their rows
	// (the worker locks its receipt first), so their jobs are surely
	// running when the process is killed.
	receipts := make([]uuid.UUID, webhookJobs)
	for i := range receipts {
		require.NoError(t, pool.QueryRow(ctx, `INSERT INTO webhook_receipts (source, event, body, payload, verified)
			VALUES ('test', 'ping', '\x7b7d', '{}', true) RETURNING id`).Scan(&receipts[i]))
	}
	hold, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer hold.Rollback(ctx) //nolint:errcheck // released below
	_, err = hold.Exec(ctx, "SELECT 1 FROM webhook_receipts WHERE id = ANY($1) FOR UPDATE", receipts)
	require.NoError(t, err)

	first := startProcess(t, bin, env, base+"/readyz", "serve")
	inserter, err := jobs.NewClient(pool, jobs.NewWorkers(jobs.WorkerDeps{Logger: slog.New(slog.DiscardHandler), Pool: pool}), jobs.Config{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	params := make([]river.InsertManyParams, len(receipts))
	for i, id := range receipts {
		params[i] = river.InsertManyParams{Args: jobs.ProcessWebhookArgs{ReceiptID: id, Source: "test", Event: "ping"}}
	}
	_, err = inserter.InsertMany(ctx, params)
	require.NoError(t, err)
	textJob := createJob(t, base, fmt.Sprintf("length=10&delay_ms=%d", delay.Milliseconds()))

	running := func() int {
		var n int
		require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM river_job WHERE state = 'running'").Scan(&n))
		return n
	}
	require.Eventually(t, func() bool { return running() == webhookJobs+1 }, 30*time.Second, 20*time.Millisecond,
		"every job running; logs:\n%s", first.logs)
	require.NoError(t, first.cmd.Process.Signal(syscall.SIGKILL))
	<-first.exited
	require.NoError(t, hold.Rollback(ctx))
	require.Equal(t, webhookJobs+1, running(), "a killed process leaves its jobs running")

	// The bound the README documents: a job runs again once it has run
	// for the longer of JOB_RESCUE_AFTER and its timeout, at the leader's
	// next rescue pass; a new leader is elected once the dead one's lease
	// ends. A generous margin on top for a loaded machine.
	longest := max(rescueAfter, jobTimeout, delay+jobTimeout)
	deadline := longest + rescuerEvery + leaderTakes + time.Minute
	second := startProcess(t, bin, env, base+"/readyz", "serve")
	require.Eventually(t, func() bool {
		var left int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE state <> 'completed'`).Scan(&left))
		return left == 0
	}, deadline, 250*time.Millisecond, "jobs still not completed %s after the restart; logs:\n%s", deadline, second.logs)

	var unprocessed, rescued int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM webhook_receipts WHERE processed_at IS NULL").Scan(&unprocessed))
	require.Zero(t, unprocessed, "every receipt processed")
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM river_job
		WHERE errors[1]->>'error' = 'Stuck job rescued by JobRescuer'`).Scan(&rescued))
	require.Equal(t, webhookJobs+1, rescued, "each job was run again by River's rescuer")

	var st struct{ Result struct{ Length int } }
	resp := getJSON(t, base+"/api/jobs/"+textJob.JobID, &st)
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, 10, st.Result.Length, "the random-text job completed with its result")
}
