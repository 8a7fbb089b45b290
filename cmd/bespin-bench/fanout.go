package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/bespin/bespin/jobs"
)

// holdQueue is a queue no Bespin worker works, so fanout jobs stay pending
// until the bench changes them.
const holdQueue = "bench_hold"

// runFanout holds N WebSocket watchers spread over M jobs, measures the
// server's resident memory per connection, then cancels the jobs one by one
// (a real status change, as from River UI) and times how long each change
// takes to reach every watcher of its job.
func runFanout(ctx context.Context, o options, log io.Writer) (result, error) {
	d, srv, cleanup, err := startBespin(ctx, o, "fanout")
	if err != nil {
		return result{}, err
	}
	defer cleanup()

	rc, err := river.NewClient(riverpgxv5.New(d.pool), &river.Config{Logger: quietLogger()})
	if err != nil {
		return result{}, err
	}
	ids := make([]int64, o.watchJobs)
	for i := range ids {
		res, err := rc.Insert(ctx, jobs.RandomTextArgs{Length: 10}, &river.InsertOpts{Queue: holdQueue})
		if err != nil {
			return result{}, err
		}
		ids[i] = res.Job.ID
	}

	time.Sleep(time.Second) // let the fresh server settle before the baseline reading
	before, err := srv.rss()
	if err != nil {
		return result{}, err
	}

	type watcher struct {
		conn *websocket.Conn
		job  int
	}
	progress(log, "fanout: connecting %d watchers across %d jobs", o.watchers, o.watchJobs)
	watchers := make([]watcher, o.watchers)
	received := make([][]time.Time, o.watchJobs) // per job, when each watcher saw the change
	var mu sync.Mutex
	var connectErrs atomic.Int64
	var firstErr atomic.Value
	sem := make(chan struct{}, 100)
	var wg sync.WaitGroup
	for i := range watchers {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			job := i % o.watchJobs
			conn, st, err := watch(ctx, srv.url, strconv.FormatInt(ids[job], 10))
			if err != nil {
				connectErrs.Add(1)
				firstErr.CompareAndSwap(nil, err)
				return
			}
			if st.Status != "pending" {
				connectErrs.Add(1)
				firstErr.CompareAndSwap(nil, fmt.Errorf("job %d is %s, not pending", ids[job], st.Status))
			}
			watchers[i] = watcher{conn: conn, job: job}
		})
		if (i+1)%2000 == 0 {
			progress(log, "fanout: %d connected", i+1)
		}
	}
	wg.Wait()
	if n := connectErrs.Load(); n > 0 {
		return result{}, fmt.Errorf("fanout: %d watchers failed to connect; first: %v", n, firstErr.Load())
	}
	runtime.GC()
	time.Sleep(2 * time.Second) // connections settle (goroutine stacks, buffers)
	after, err := srv.rss()
	if err != nil {
		return result{}, err
	}
	held := 0
	for _, w := range watchers {
		if w.conn != nil {
			held++
			wg.Go(func() {
				st, err := readStatus(w.conn)
				if err == nil && st.State == "cancelled" {
					mu.Lock()
					received[w.job] = append(received[w.job], time.Now())
					mu.Unlock()
				}
				w.conn.Close()
			})
		}
	}

	progress(log, "fanout: %d held; server RSS %d → %d MiB; cancelling jobs", held, before>>20, after>>20)
	sent := make([]time.Time, o.watchJobs)
	for i, id := range ids {
		sent[i] = time.Now()
		if _, err := rc.JobCancel(ctx, id); err != nil {
			return result{}, err
		}
		time.Sleep(20 * time.Millisecond) // one change at a time
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		return result{}, fmt.Errorf("fanout: watchers still waiting 60s after the last change")
	}

	var lat latencies
	reached := 0
	for i := range ids {
		reached += len(received[i])
		if len(received[i]) == 0 {
			continue
		}
		last := received[i][0]
		for _, t := range received[i] {
			if t.After(last) {
				last = t
			}
		}
		lat.add(last.Sub(sent[i]))
	}
	if reached != held {
		return result{}, fmt.Errorf("fanout: the change reached %d of %d watchers", reached, held)
	}
	return result{
		Bespin: map[string]float64{
			"watchers_held":      float64(held),
			"kib_per_conn":       float64(after-before) / 1024 / float64(held),
			"p50_all_reached_ms": lat.percentile(50),
			"p99_all_reached_ms": lat.percentile(99),
		},
		Notes: "no baseline: targets are absolute (≤ 30 KiB per connection, p99 ≤ 200 ms)",
	}, nil
}
