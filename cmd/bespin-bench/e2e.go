package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
)

// phase is a stretch of steady load: rate jobs a second for dur.
type phase struct {
	rate int
	dur  time.Duration
}

// runE2E creates jobs over HTTP at a steady rate and times each until its
// WebSocket watcher receives "completed". The baseline, on the same
// Postgres: River insert → the job completes (River's own completion event)
// → one NOTIFY round trip, timed the same way.
func runE2E(ctx context.Context, o options, log io.Writer) (result, error) {
	phases := []phase{{o.rate, o.warmup}, {o.rate, o.duration}}
	b, err := bespinE2E(ctx, o, log, "e2e", phases)
	if err != nil {
		return result{}, err
	}
	r, err := riverE2E(ctx, o, log, "e2e baseline", phases)
	if err != nil {
		return result{}, err
	}
	res := result{
		Bespin:   b.steadyFigures(),
		Baseline: r.steadyFigures(),
		Notes: fmt.Sprintf("HTTP create → WebSocket completed vs River insert → completed + one NOTIFY round trip, %d jobs/s, "+
			"JOB_WORKERS=%d, JOB_FETCH_COOLDOWN=%s. Bespin: %s.%s Baseline: %s.%s", o.rate, o.jobWorkers, o.cooldown, b.usage, b.failureNote(), r.usage, r.failureNote()),
	}
	res.compare("p50_ms", "p99_ms")
	return res, nil
}

// runE2EBurst offers -burst-rate jobs a second for -burst-for, then -rate
// for -burst-after, timed like e2e: does throughput keep up (or degrade
// gracefully) during the burst, and is latency back to normal in the last
// 10 s (no congested mode that persists)?
func runE2EBurst(ctx context.Context, o options, log io.Writer) (result, error) {
	phases := []phase{{o.rate, o.warmup}, {o.burstRate, o.burstFor}, {o.rate, o.burstAfter}}
	b, err := bespinE2E(ctx, o, log, "e2e-burst", phases)
	if err != nil {
		return result{}, err
	}
	r, err := riverE2E(ctx, o, log, "e2e-burst baseline", phases)
	if err != nil {
		return result{}, err
	}
	res := result{
		Bespin:   b.burstFigures(o),
		Baseline: r.burstFigures(o),
		Notes: fmt.Sprintf("%d jobs/s for %s, then %d jobs/s for %s, timed like e2e. p99 per second of start, Bespin: %s; baseline: %s. Bespin: %s.%s Baseline: %s.%s",
			o.burstRate, o.burstFor, o.rate, o.burstAfter, b.timeline(), r.timeline(), b.usage, b.failureNote(), r.usage, r.failureNote()),
	}
	res.compare("p99_ms", "burst_p99_ms", "last10s_p99_ms", "burst_completed_per_sec")
	return res, nil
}

// e2eRun is one side's timed jobs.
type e2eRun struct {
	phases   []phase
	start    time.Time // when the load started (the warm-up is phases[0])
	mu       sync.Mutex
	done     []timedJob
	failures atomic.Int64
	firstErr atomic.Value // string: the first failure, for the notes
	usage    usage
}

// fail counts a failed job and keeps the first reason.
func (r *e2eRun) fail(reason string, err error) {
	r.failures.Add(1)
	if err != nil {
		reason += ": " + err.Error()
	}
	r.firstErr.CompareAndSwap(nil, reason)
}

// failureNote says how many jobs failed and why the first did.
func (r *e2eRun) failureNote() string {
	if r.failures.Load() == 0 {
		return ""
	}
	first, _ := r.firstErr.Load().(string)
	return fmt.Sprintf(" %d failed (first: %s).", r.failures.Load(), first)
}

type timedJob struct {
	start time.Time
	lat   time.Duration
}

func (r *e2eRun) add(start time.Time) {
	lat := time.Since(start)
	r.mu.Lock()
	r.done = append(r.done, timedJob{start, lat})
	r.mu.Unlock()
}

// measureFrom is the end of the warm-up.
func (r *e2eRun) measureFrom() time.Time { return r.start.Add(r.phases[0].dur) }

func (r *e2eRun) end() time.Time {
	t := r.start
	for _, p := range r.phases {
		t = t.Add(p.dur)
	}
	return t
}

// started returns the latencies of the jobs started in [from, to).
func (r *e2eRun) started(from, to time.Time) *latencies {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := &latencies{}
	for _, j := range r.done {
		if !j.start.Before(from) && j.start.Before(to) {
			l.d = append(l.d, j.lat)
		}
	}
	return l
}

// completedBetween counts the jobs that completed in [from, to).
func (r *e2eRun) completedBetween(from, to time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, j := range r.done {
		if end := j.start.Add(j.lat); !end.Before(from) && end.Before(to) {
			n++
		}
	}
	return n
}

func (r *e2eRun) steadyFigures() map[string]float64 {
	l := r.started(r.measureFrom(), r.end())
	f := map[string]float64{
		"p50_ms": l.percentile(50), "p99_ms": l.percentile(99), "max_ms": l.percentile(100),
		"completed": float64(l.count()), "errors": float64(r.failures.Load()),
	}
	r.usage.figures(f)
	return f
}

func (r *e2eRun) burstFigures(o options) map[string]float64 {
	burstFrom := r.measureFrom()
	burstTo := burstFrom.Add(o.burstFor)
	all := r.started(burstFrom, r.end())
	burst := r.started(burstFrom, burstTo)
	last := r.started(r.end().Add(-10*time.Second), r.end())
	f := map[string]float64{
		"p50_ms": all.percentile(50), "p99_ms": all.percentile(99), "max_ms": all.percentile(100),
		"burst_p99_ms": burst.percentile(99), "last10s_p99_ms": last.percentile(99), "last10s_p50_ms": last.percentile(50),
		"burst_offered_per_sec":   float64(o.burstRate),
		"burst_completed_per_sec": round(float64(r.completedBetween(burstFrom, burstTo))/o.burstFor.Seconds(), 1),
		"completed":               float64(all.count()), "errors": float64(r.failures.Load()),
	}
	r.usage.figures(f)
	return f
}

// timeline is the p99 (ms) of the jobs started in each second after the
// warm-up.
func (r *e2eRun) timeline() string {
	var parts []string
	for t := r.measureFrom(); t.Before(r.end()); t = t.Add(time.Second) {
		l := r.started(t, t.Add(time.Second))
		parts = append(parts, strconv.Itoa(int(l.percentile(99))))
	}
	return strings.Join(parts, " ")
}

// offer starts f at each phase's rate, each call in its own goroutine,
// then waits for all of them. It keeps the rate when it falls behind
// (calls due meanwhile start at once), so the load is what was offered,
// not what the server let through.
func offer(ctx context.Context, phases []phase, f func()) {
	var wg sync.WaitGroup
	next := time.Now()
	for _, p := range phases {
		interval := time.Second / time.Duration(p.rate)
		end := next.Add(p.dur)
		for next.Before(end) && ctx.Err() == nil {
			time.Sleep(time.Until(next))
			wg.Go(f)
			next = next.Add(interval)
		}
	}
	wg.Wait()
}

// bespinE2E runs phases against a fresh bespin-api serve (with workers).
func bespinE2E(ctx context.Context, o options, log io.Writer, label string, phases []phase) (*e2eRun, error) {
	d, srv, cleanup, err := startBespin(ctx, o, label)
	if err != nil {
		return nil, err
	}
	defer cleanup()

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024}}
	r := &e2eRun{phases: phases, start: time.Now()}
	win := window{measureFrom: r.measureFrom(), end: r.end()}
	measured := observe(ctx, o, log, win, d.pool, d.name, srv, label, srv.pid())
	progress(log, "%s: %s after %s of warm-up", label, describe(phases[1:]), o.warmup)
	offer(ctx, phases, func() {
		t0 := time.Now()
		id, err := createJob(ctx, client, srv.url, 100)
		if err != nil {
			r.fail("create", err)
			return
		}
		conn, st, err := watch(ctx, srv.url, id)
		if err != nil {
			r.fail("watch", err)
			return
		}
		defer conn.Close()
		for !terminal(st.Status) {
			conn.SetReadDeadline(time.Now().Add(60 * time.Second))
			if st, err = readStatus(conn); err != nil {
				r.fail("read status", err)
				return
			}
		}
		if st.Status != "completed" {
			r.fail("job ended "+st.Status, nil)
			return
		}
		r.add(t0)
	})
	r.usage = measured()
	progress(log, "%s: %d completed, %d failed", label, len(r.done), r.failures.Load())
	return r, nil
}

// riverE2E runs phases against bare River: insert → River's completion
// event → one NOTIFY round trip.
func riverE2E(ctx context.Context, o options, log io.Writer, label string, phases []phase) (*e2eRun, error) {
	bd, bare, err := bareRiver(ctx, o, "e2ebase", o.jobWorkers)
	if err != nil {
		return nil, err
	}
	defer bd.drop(o.keep)

	// Completion events from River, dispatched to the waiting inserter.
	events, cancelSub := bare.Subscribe(river.EventKindJobCompleted)
	defer cancelSub()
	var mu sync.Mutex
	waiting := map[int64]chan struct{}{}
	notified := map[string]chan struct{}{}
	go func() {
		for ev := range events {
			mu.Lock()
			if ch, ok := waiting[ev.Job.ID]; ok {
				close(ch)
				delete(waiting, ev.Job.ID)
			}
			mu.Unlock()
		}
	}()

	listenConn, err := pgx.Connect(ctx, bd.url)
	if err != nil {
		return nil, err
	}
	defer listenConn.Close(context.Background())
	if _, err := listenConn.Exec(ctx, "LISTEN bench_e2e"); err != nil {
		return nil, err
	}
	listenCtx, stopListen := context.WithCancel(ctx)
	defer stopListen()
	go func() {
		for {
			n, err := listenConn.WaitForNotification(listenCtx)
			if err != nil {
				return
			}
			mu.Lock()
			if ch, ok := notified[n.Payload]; ok {
				close(ch)
				delete(notified, n.Payload)
			}
			mu.Unlock()
		}
	}()

	if err := bare.Start(ctx); err != nil {
		return nil, err
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = bare.Stop(stopCtx)
		cancel()
	}()

	r := &e2eRun{phases: phases, start: time.Now()}
	win := window{measureFrom: r.measureFrom(), end: r.end()}
	measured := observe(ctx, o, log, win, bd.pool, bd.name, nil, label)
	progress(log, "%s: %s after %s of warm-up", label, describe(phases[1:]), o.warmup)
	offer(ctx, phases, func() {
		t0 := time.Now()
		done := make(chan struct{})
		mu.Lock() // registered before the insert can complete
		res, err := bare.Insert(ctx, bareTextArgs{Length: 100}, nil)
		if err != nil {
			mu.Unlock()
			r.fail("insert", err)
			return
		}
		waiting[res.Job.ID] = done
		mu.Unlock()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			r.fail("no completion event within 60s", nil)
			return
		}
		key := strconv.FormatInt(res.Job.ID, 10)
		heard := make(chan struct{})
		mu.Lock()
		notified[key] = heard
		mu.Unlock()
		if _, err := bd.pool.Exec(ctx, "SELECT pg_notify('bench_e2e', $1)", key); err != nil {
			r.fail("notify", err)
			return
		}
		select {
		case <-heard:
			r.add(t0)
		case <-time.After(60 * time.Second):
			r.fail("NOTIFY not heard within 60s", nil)
		}
	})
	r.usage = measured()
	progress(log, "%s: %d completed, %d failed", label, len(r.done), r.failures.Load())
	if len(r.done) == 0 {
		return nil, fmt.Errorf("%s: nothing completed", label)
	}
	return r, nil
}

func describe(phases []phase) string {
	var parts []string
	for _, p := range phases {
		parts = append(parts, fmt.Sprintf("%d jobs/s for %s", p.rate, p.dur))
	}
	return strings.Join(parts, ", then ")
}
