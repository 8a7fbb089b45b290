package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
)

// runE2E creates jobs over HTTP at a steady rate and times each until its
// WebSocket watcher receives "completed". The baseline, on the same
// Postgres: River insert → the job completes (River's own completion event)
// → one NOTIFY round trip, timed the same way.
func runE2E(ctx context.Context, o options, log io.Writer) (result, error) {
	_, srv, cleanup, err := startBespin(ctx, o, "e2e")
	if err != nil {
		return result{}, err
	}
	defer cleanup()

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	var lat latencies
	var failures atomic.Int64
	progress(log, "e2e: %d jobs/s for %s after %s of warm-up", o.rate, o.duration, o.warmup)
	win := newWindow(o)
	steady(ctx, o.rate, win, func() {
		t0 := time.Now()
		id, err := createJob(ctx, client, srv.url, 100)
		if err != nil {
			failures.Add(1)
			return
		}
		conn, st, err := watch(ctx, srv.url, id)
		if err != nil {
			failures.Add(1)
			return
		}
		defer conn.Close()
		for !terminal(st.Status) {
			conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			if st, err = readStatus(conn); err != nil {
				failures.Add(1)
				return
			}
		}
		if st.Status != "completed" {
			failures.Add(1)
			return
		}
		if win.measured(t0) {
			lat.add(time.Since(t0))
		}
	})
	progress(log, "e2e: %d completed, %d failed", lat.count(), failures.Load())
	_ = srv.stop()

	base, err := e2eBaseline(ctx, o, log)
	if err != nil {
		return result{}, err
	}
	res := result{
		Bespin: map[string]float64{
			"p50_ms": lat.percentile(50), "p99_ms": lat.percentile(99),
			"completed": float64(lat.count()), "errors": float64(failures.Load()),
		},
		Baseline: base,
		Notes:    "HTTP create → WebSocket completed vs River insert → completed + one NOTIFY round trip",
	}
	res.compare("p50_ms", "p99_ms")
	return res, nil
}

func e2eBaseline(ctx context.Context, o options, log io.Writer) (map[string]float64, error) {
	bd, bare, err := bareRiver(ctx, o, "e2ebase")
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

	var lat latencies
	var failures atomic.Int64
	progress(log, "e2e baseline: %d jobs/s for %s after %s of warm-up", o.rate, o.duration, o.warmup)
	win := newWindow(o)
	steady(ctx, o.rate, win, func() {
		t0 := time.Now()
		done := make(chan struct{})
		mu.Lock() // registered before the insert can complete
		res, err := bare.Insert(ctx, bareTextArgs{Length: 100}, nil)
		if err != nil {
			mu.Unlock()
			failures.Add(1)
			return
		}
		waiting[res.Job.ID] = done
		mu.Unlock()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			failures.Add(1)
			return
		}
		key := strconv.FormatInt(res.Job.ID, 10)
		heard := make(chan struct{})
		mu.Lock()
		notified[key] = heard
		mu.Unlock()
		if _, err := bd.pool.Exec(ctx, "SELECT pg_notify('bench_e2e', $1)", key); err != nil {
			failures.Add(1)
			return
		}
		select {
		case <-heard:
			if win.measured(t0) {
				lat.add(time.Since(t0))
			}
		case <-time.After(30 * time.Second):
			failures.Add(1)
		}
	})
	progress(log, "e2e baseline: %d completed, %d failed", lat.count(), failures.Load())
	if lat.count() == 0 {
		return nil, fmt.Errorf("e2e baseline: nothing completed")
	}
	return map[string]float64{"p50_ms": lat.percentile(50), "p99_ms": lat.percentile(99), "completed": float64(lat.count())}, nil
}

// steady starts f rate times a second until win ends, each in its own
// goroutine, and waits for all of them.
func steady(ctx context.Context, rate int, win window, f func()) {
	interval := time.Second / time.Duration(rate)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	var wg sync.WaitGroup
	for time.Now().Before(win.end) && ctx.Err() == nil {
		<-ticker.C
		wg.Go(f)
	}
	wg.Wait()
}
