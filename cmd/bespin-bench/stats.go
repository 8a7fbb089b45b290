package main

import (
	"context"
	"io"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// window is a run of load: a warm-up, whose figures are dropped (a fresh
// server and database open connections, fill caches and plan queries
// first), then the measured duration.
type window struct {
	measureFrom, end time.Time
}

func newWindow(o options) window {
	now := time.Now()
	return window{measureFrom: now.Add(o.warmup), end: now.Add(o.warmup + o.duration)}
}

// measured reports whether an operation that started at t counts.
func (w window) measured(t time.Time) bool { return !t.Before(w.measureFrom) }

// latencies collects durations from many goroutines.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// percentile returns the p-th percentile (0..100) in milliseconds, nearest rank.
func (l *latencies) percentile(p float64) float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	sort.Slice(l.d, func(i, j int) bool { return l.d[i] < l.d[j] })
	rank := int(math.Ceil(p/100*float64(len(l.d)))) - 1
	rank = min(max(rank, 0), len(l.d)-1)
	return float64(l.d[rank]) / float64(time.Millisecond)
}

func (l *latencies) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.d)
}

func round(v float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(v*p) / p
}

func sortedKeys(m map[string]float64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// observe measures where the CPU goes (and what Postgres waits for)
// during win's measured part, and with -profile-dir saves a CPU profile of
// srv for the same time as <name>.pprof. Call the returned function once
// the load has ended.
func observe(ctx context.Context, o options, log io.Writer, win window, pool *pgxpool.Pool, dbName string, srv *server, name string, pids ...int) func() usage {
	res := make(chan usage, 1)
	profiled := make(chan struct{})
	go func() {
		sleepUntil(ctx, win.measureFrom)
		m := startMeter(ctx, pool, dbName, pids...)
		go func() {
			defer close(profiled)
			if srv == nil {
				return
			}
			if err := srv.profile(o, name, time.Until(win.end)); err != nil {
				progress(log, "%s: %v", name, err)
			}
		}()
		sleepUntil(ctx, win.end)
		res <- m.stop()
	}()
	return func() usage {
		u := <-res
		<-profiled
		return u
	}
}

func sleepUntil(ctx context.Context, t time.Time) {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-ctx.Done():
	case <-timer.C:
	}
}
