package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/bespin/bespin/jobs"
)

// runJobs measures the jobs drain at capacity: N pre-inserted random-text
// jobs drained by `bespin-api worker` while WebSocket watchers are
// connected to a serve instance (so the realtime path is live), and the
// same drain by a bare River client, both with -drain-workers and
// -fetch-cooldown. Throughput is N / (last finalized_at - first
// attempted_at), read from river_job on both sides, so process start-up
// is not counted for either. Each side's output names what bound it: its
// configuration (River fetches at most MaxWorkers jobs per FetchCooldown),
// the CPU, or else the waits sampled in pg_stat_activity.
func runJobs(ctx context.Context, o options, log io.Writer) (result, error) {
	// A drain of -jobs takes a few seconds and either side's rate moves by
	// 10-20% from one drain to the next on a shared machine, so the sides
	// alternate for -rounds rounds and the median round counts.
	type drain struct {
		bespin, base       float64
		bespinUse, baseUse usage
	}
	rounds := make([]drain, o.rounds)
	var rates []string
	for i := range rounds {
		r := &rounds[i]
		label := fmt.Sprintf("jobs round %d", i+1) // also names its profile files
		var err error
		if r.bespin, r.bespinUse, err = drainBespin(ctx, o, log, label, o.drainWorkers, o.jobs, 200); err != nil {
			return result{}, err
		}
		if r.base, r.baseUse, err = drainRiver(ctx, o, log, label+" baseline", o.drainWorkers, o.jobs); err != nil {
			return result{}, err
		}
		rates = append(rates, fmt.Sprintf("%.0f/%.0f", r.bespin, r.base))
	}
	// The CPU per job is the mean of all rounds: unlike the rates it
	// hardly moves from one drain to the next (see usage.perOp).
	mean := 0.0
	var cpu [2][2]float64 // [bespin, baseline][all, postgres], µs per job
	for _, r := range rounds {
		mean += r.bespin / r.base / float64(len(rounds))
		for side, u := range []usage{r.bespinUse, r.baseUse} {
			all, pg := u.perOp(float64(o.jobs))
			cpu[side][0] += all / float64(len(rounds))
			cpu[side][1] += pg / float64(len(rounds))
		}
	}
	slices.SortFunc(rounds, func(a, b drain) int { return cmp.Compare(a.bespin/a.base, b.bespin/b.base) })
	m := rounds[len(rounds)/2]

	configCap := float64(o.drainWorkers) / o.cooldown.Seconds()
	config := fmt.Sprintf("%d workers / %s cooldown", o.drainWorkers, o.cooldown)
	res := result{
		Bespin:   map[string]float64{"jobs_per_sec": m.bespin, "watchers": 200, "config_cap_per_sec": configCap},
		Baseline: map[string]float64{"jobs_per_sec": m.base, "config_cap_per_sec": configCap},
		Notes: fmt.Sprintf("bespin-api worker (jobs complete themselves; watchers live) vs a bare River client, %d jobs, "+
			"%d rounds alternating the sides, jobs/s Bespin/baseline per round %s (mean ratio %.2f); the round with the median ratio is reported. "+
			"CPU per job, mean of the rounds: Bespin %.0f µs (Postgres %.0f), baseline %.0f µs (Postgres %.0f): at equal busyness the rates' ratio would be %.2f. "+
			"Bespin bound by %s; %s. Baseline bound by %s; %s (River runs in the bench process)",
			o.jobs, o.rounds, strings.Join(rates, ", "), mean,
			cpu[0][0], cpu[0][1], cpu[1][0], cpu[1][1], cpu[1][0]/cpu[0][0],
			m.bespinUse.bound(m.bespin, configCap, config), m.bespinUse, m.baseUse.bound(m.base, configCap, config), m.baseUse),
	}
	for side, into := range []map[string]float64{res.Bespin, res.Baseline} {
		into["cpu_us_per_op"], into["pg_us_per_op"] = round(cpu[side][0], 1), round(cpu[side][1], 1)
	}
	m.bespinUse.figures(res.Bespin)
	m.baseUse.figures(res.Baseline)
	res.compare("jobs_per_sec", "cpu_us_per_op")
	return res, nil
}

// drainBespin inserts n jobs into a fresh database, connects watchers to a
// serve instance without workers, then starts `bespin-api worker` with
// workers and measures the drain.
func drainBespin(ctx context.Context, o options, log io.Writer, label string, workers, n, watchers int) (float64, usage, error) {
	d, srv, cleanup, err := startBespin(ctx, o, label, "RUN_WORKERS=false")
	if err != nil {
		return 0, usage{}, err
	}
	defer cleanup()

	inserter, err := river.NewClient(riverpgxv5.New(d.pool), &river.Config{Logger: quietLogger()})
	if err != nil {
		return 0, usage{}, err
	}
	ids, err := insertJobs(ctx, inserter, n, jobs.RandomTextArgs{Length: 100})
	if err != nil {
		return 0, usage{}, err
	}
	nWatch := min(watchers, len(ids))
	progress(log, "%s: %d jobs inserted; %d watchers connecting", label, len(ids), nWatch)
	var seenTerminal atomic.Int64
	var conns []*websocket.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for _, id := range ids[:nWatch] {
		conn, _, err := watch(ctx, srv.url, strconv.FormatInt(id, 10))
		if err != nil {
			return 0, usage{}, err
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

	progress(log, "%s: starting bespin-api worker (JOB_WORKERS=%d, JOB_FETCH_COOLDOWN=%s)", label, workers, o.cooldown)
	wo := o
	wo.jobWorkers = workers
	worker, err := startServer(ctx, wo, d.url, "worker")
	if err != nil {
		return 0, usage{}, err
	}
	if err := waitStarted(ctx, d.pool); err != nil {
		_ = worker.stop()
		return 0, usage{}, err
	}
	meter := startMeter(ctx, d.pool, d.name, srv.pid(), worker.pid())
	// Both processes are profiled (with -profile-dir): the worker drains,
	// the serve instance turns the status notifications into messages.
	var profiled sync.WaitGroup
	for _, p := range []struct {
		s    *server
		role string
	}{{worker, "worker"}, {srv, "serve"}} {
		profiled.Go(func() {
			// A fixed 5 s: the drain's length is not known in advance.
			if err := p.s.profile(o, strings.ReplaceAll(label, " ", "-")+"-"+p.role, 5*time.Second); err != nil {
				progress(log, "%s: %v", label, err)
			}
		})
	}
	rate, err := waitDrained(ctx, d.pool, len(ids), log, label)
	use := meter.stop()
	profiled.Wait()
	_ = worker.stop()
	if err != nil {
		return 0, usage{}, err
	}
	waitUntil(10*time.Second, func() bool { return seenTerminal.Load() == int64(nWatch) })
	if seenTerminal.Load() != int64(nWatch) {
		return 0, usage{}, fmt.Errorf("%s: only %d of %d watchers saw their job finish", label, seenTerminal.Load(), nWatch)
	}
	return rate, use, nil
}

// drainRiver is drainBespin's baseline: a bare River client, in this
// process, draining n jobs of the same work.
func drainRiver(ctx context.Context, o options, log io.Writer, label string, workers, n int) (float64, usage, error) {
	bd, bare, err := bareRiver(ctx, o, "jobsbase", workers)
	if err != nil {
		return 0, usage{}, err
	}
	defer bd.drop(o.keep)
	if _, err := insertJobs(ctx, bare, n, bareTextArgs{Length: 100}); err != nil {
		return 0, usage{}, err
	}
	progress(log, "%s: bare River client (MaxWorkers %d, FetchCooldown %s) draining %d jobs", label, workers, o.cooldown, n)
	if err := bare.Start(ctx); err != nil {
		return 0, usage{}, err
	}
	if err := waitStarted(ctx, bd.pool); err != nil {
		return 0, usage{}, err
	}
	meter := startMeter(ctx, bd.pool, bd.name)
	rate, err := waitDrained(ctx, bd.pool, n, log, label)
	use := meter.stop()
	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	_ = bare.Stop(stopCtx)
	cancel()
	return rate, use, err
}

// runCooldownSweep measures, for each of -cooldowns, what JOB_FETCH_COOLDOWN
// does to Bespin with its default JOB_WORKERS: the e2e latency at -rate
// jobs/s, and the drain throughput (capped by JOB_WORKERS / cooldown when
// the machine allows more). It chooses nothing itself: the README records
// the figures and the default chosen from them.
func runCooldownSweep(ctx context.Context, o options, log io.Writer) (result, error) {
	res := result{Bespin: map[string]float64{}}
	var notes []string
	for _, c := range o.cooldowns {
		oc := o
		oc.cooldown = c
		label := "cooldown " + c.String()
		run, err := bespinE2E(ctx, oc, log, label+" e2e", []phase{{o.rate, o.warmup}, {o.rate, o.duration}})
		if err != nil {
			return result{}, err
		}
		f := run.steadyFigures()
		// About 10 s of drain at the configured cap, within [2000, -jobs].
		n := min(max(int(float64(o.jobWorkers)/c.Seconds()*10), 2000), o.jobs)
		rate, use, err := drainBespin(ctx, oc, log, label+" drain", o.jobWorkers, n, 0)
		if err != nil {
			return result{}, err
		}
		key := c.String()
		res.Bespin["e2e_p50_ms@"+key] = f["p50_ms"]
		res.Bespin["e2e_p99_ms@"+key] = f["p99_ms"]
		res.Bespin["e2e_errors@"+key] = f["errors"]
		res.Bespin["drain_per_sec@"+key] = round(rate, 1)
		configCap := float64(o.jobWorkers) / c.Seconds()
		notes = append(notes, fmt.Sprintf("%s: e2e %s; drain of %d bound by %s, %s", key, run.usage,
			n, use.bound(rate, configCap, fmt.Sprintf("%d workers / %s", o.jobWorkers, c)), use))
	}
	res.Notes = fmt.Sprintf("JOB_WORKERS=%d, e2e at %d jobs/s. ", o.jobWorkers, o.rate) + strings.Join(notes, " | ")
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

// waitDrained waits until no job is left to work and n are completed,
// and returns jobs/s between the first attempt and the last completion.
// It polls with a query that stops at the first unfinished job (an index
// scan), not a count: on a table of tens of thousands of rows a count 20
// times a second would take a visible share of the CPU being measured.
func waitDrained(ctx context.Context, pool *pgxpool.Pool, n int, log io.Writer, label string) (float64, error) {
	deadline := time.Now().Add(5 * time.Minute)
	last := time.Now()
	for time.Now().Before(deadline) {
		var unfinished bool
		if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM river_job
			WHERE state = ANY('{available,running,retryable,scheduled,pending}'::river_job_state[]))`).Scan(&unfinished); err != nil {
			return 0, err
		}
		if !unfinished {
			var done int
			var span float64
			err := pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE state = 'completed'),
				coalesce(extract(epoch FROM max(finalized_at) - min(attempted_at))::float8, 0) FROM river_job`).Scan(&done, &span)
			if err != nil {
				return 0, err
			}
			if done < n || span <= 0 {
				return 0, fmt.Errorf("%s: drained, but only %d of %d jobs completed", label, done, n)
			}
			return float64(n) / span, nil
		}
		if time.Since(last) > 2*time.Second {
			var done int
			if err := pool.QueryRow(ctx, "SELECT count(*) FROM river_job WHERE state = 'completed'").Scan(&done); err != nil {
				return 0, err
			}
			progress(log, "%s: %d/%d completed", label, done, n)
			last = time.Now()
		}
		time.Sleep(20 * time.Millisecond)
	}
	return 0, fmt.Errorf("%s: not drained within 5 minutes", label)
}

// waitStarted waits until the drain has begun (some job left available),
// so that process start-up is not measured.
func waitStarted(ctx context.Context, pool *pgxpool.Pool) error {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		var started bool
		if err := pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM river_job WHERE state <> 'available')").Scan(&started); err != nil {
			return err
		}
		if started {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("no job was picked up within a minute")
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
