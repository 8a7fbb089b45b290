package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/bespin/bespin/jobs"
)

// runJobs drains N pre-inserted random-text jobs with `bespin-api worker`
// while WebSocket watchers are connected to a serve instance (so the NOTIFY
// path is live), and the same drain with a bare River client. Throughput is
// N / (last finalized_at - first attempted_at), read from river_job on both
// sides, so process start-up is not counted for either.
func runJobs(ctx context.Context, o options, log io.Writer) (result, error) {
	d, srv, cleanup, err := startBespin(ctx, o, "jobs", "RUN_WORKERS=false")
	if err != nil {
		return result{}, err
	}
	defer cleanup()

	inserter, err := river.NewClient(riverpgxv5.New(d.pool), &river.Config{Logger: quietLogger()})
	if err != nil {
		return result{}, err
	}
	ids, err := insertJobs(ctx, inserter, o.jobs, jobs.RandomTextArgs{Length: 100})
	if err != nil {
		return result{}, err
	}
	nWatch := min(200, len(ids))
	progress(log, "jobs: %d jobs inserted; %d watchers connecting", len(ids), nWatch)
	var seenTerminal atomic.Int64
	var conns []*websocket.Conn
	for _, id := range ids[:nWatch] {
		conn, _, err := watch(ctx, srv.url, strconv.FormatInt(id, 10))
		if err != nil {
			return result{}, err
		}
		conns = append(conns, conn)
		go func() {
			for {
				st, err := readStatus(conn)
				if err != nil {
					return
				}
				if terminal(st.Status) {
					seenTerminal.Add(1)
				}
			}
		}()
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()

	progress(log, "jobs: starting bespin-api worker (JOB_WORKERS=%d)", o.jobWorkers)
	worker, err := startServer(ctx, o, d.url, "worker")
	if err != nil {
		return result{}, err
	}
	bespinRate, err := waitDrained(ctx, d.pool, len(ids), log, "jobs")
	_ = worker.stop()
	if err != nil {
		return result{}, err
	}
	waitUntil(5*time.Second, func() bool { return seenTerminal.Load() == int64(nWatch) })
	if seenTerminal.Load() != int64(nWatch) {
		return result{}, fmt.Errorf("jobs: only %d of %d watchers saw their job finish", seenTerminal.Load(), nWatch)
	}

	// Baseline: bare River, same queue settings and work.
	bd, bare, err := bareRiver(ctx, o, "jobsbase")
	if err != nil {
		return result{}, err
	}
	defer bd.drop(o.keep)
	_, err = insertJobs(ctx, bare, o.jobs, bareTextArgs{Length: 100})
	if err != nil {
		return result{}, err
	}
	progress(log, "jobs baseline: bare River client draining %d jobs", o.jobs)
	if err := bare.Start(ctx); err != nil {
		return result{}, err
	}
	baseRate, err := waitDrained(ctx, bd.pool, o.jobs, log, "jobs baseline")
	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	_ = bare.Stop(stopCtx)
	cancel()
	if err != nil {
		return result{}, err
	}
	res := result{
		Bespin:   map[string]float64{"jobs_per_sec": bespinRate, "watchers": float64(nWatch)},
		Baseline: map[string]float64{"jobs_per_sec": baseRate},
		Notes:    "bespin-api worker with the NOTIFY trigger and live watchers vs a bare River client",
	}
	res.compare("jobs_per_sec")
	return res, nil
}

// insertJobs inserts n copies of args in batches of 1000 and returns their ids.
func insertJobs(ctx context.Context, rc *river.Client[pgx.Tx], n int, args river.JobArgs) ([]int64, error) {
	var ids []int64
	for len(ids) < n {
		batch := make([]river.InsertManyParams, 0, 1000)
		for i := len(ids); i < n && len(batch) < 1000; i++ {
			batch = append(batch, river.InsertManyParams{Args: args})
		}
		res, err := rc.InsertMany(ctx, batch)
		if err != nil {
			return nil, fmt.Errorf("insert jobs: %w", err)
		}
		for _, r := range res {
			ids = append(ids, r.Job.ID)
		}
	}
	return ids, nil
}

// waitDrained waits for n completed jobs and returns jobs/s between the
// first attempt and the last completion.
func waitDrained(ctx context.Context, pool *pgxpool.Pool, n int, log io.Writer, label string) (float64, error) {
	deadline := time.Now().Add(5 * time.Minute)
	last := time.Now()
	for time.Now().Before(deadline) {
		var done int
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM river_job WHERE state = 'completed'").Scan(&done); err != nil {
			return 0, err
		}
		if done >= n {
			var span float64
			err := pool.QueryRow(ctx, "SELECT extract(epoch FROM max(finalized_at) - min(attempted_at))::float8 FROM river_job").Scan(&span)
			if err != nil {
				return 0, err
			}
			return float64(n) / span, nil
		}
		if time.Since(last) > 2*time.Second {
			progress(log, "%s: %d/%d completed", label, done, n)
			last = time.Now()
		}
		time.Sleep(50 * time.Millisecond)
	}
	return 0, fmt.Errorf("%s: not drained within 5 minutes", label)
}

func waitUntil(max time.Duration, cond func() bool) {
	deadline := time.Now().Add(max)
	for !cond() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
