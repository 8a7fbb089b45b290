package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

const benchSecret = "bench-secret"

// delivery is one signed webhook, as the seed's generic scheme signs it.
type delivery struct {
	id        string
	body      []byte
	signature string
}

func newDelivery(worker, n int) delivery {
	id := fmt.Sprintf("bench-%d-%d-%d", time.Now().UnixNano(), worker, n)
	body := []byte(fmt.Sprintf(`{"event":"bench.delivery","id":%q,"worker":%d,"n":%d,"data":{"repository":"bespin/bench","ref":"refs/heads/main","commits":[{"id":"0123456789abcdef","message":"benchmark payload of a typical size"}]}}`, id, worker, n))
	mac := hmac.New(sha256.New, []byte(benchSecret))
	mac.Write(body)
	return delivery{id: id, body: body, signature: hex.EncodeToString(mac.Sum(nil))}
}

// runWebhooks posts signed deliveries at a fixed concurrency for the
// duration; the baseline does plain single-row INSERTs of the same rows
// into a copy of the receipts table (same columns and indexes) at the same
// concurrency. The server runs without workers: this measures ingestion
// (verify, de-duplicate, store, enqueue, commit), not processing.
func runWebhooks(ctx context.Context, o options, log io.Writer) (result, error) {
	d, srv, cleanup, err := startBespin(ctx, o, "webhooks", "RUN_WORKERS=false")
	if err != nil {
		return result{}, err
	}
	defer cleanup()

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.concurrency, MaxConnsPerHost: o.concurrency}}
	var lat latencies
	var ok2xx, failed atomic.Int64
	progress(log, "webhooks: %d clients posting for %s after %s of warm-up", o.concurrency, o.duration, o.warmup)
	win := newWindow(o)
	measured := observe(ctx, o, log, win, d.pool, d.name, srv, "webhooks", srv.pid())
	var wg sync.WaitGroup
	for w := range o.concurrency {
		wg.Go(func() {
			for n := 0; time.Now().Before(win.end) && ctx.Err() == nil; n++ {
				dv := newDelivery(w, n)
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.url+"/api/webhooks/test", bytes.NewReader(dv.body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-Webhook-Signature", "sha256="+dv.signature)
				req.Header.Set("X-Webhook-Event", "bench.delivery")
				req.Header.Set("X-Webhook-Id", dv.id)
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body) //nolint:errcheck
				resp.Body.Close()
				if resp.StatusCode/100 == 2 {
					ok2xx.Add(1)
					if win.measured(t0) {
						lat.add(time.Since(t0))
					}
				} else {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	use := measured()
	var stored int64
	if err := d.pool.QueryRow(ctx, "SELECT count(*) FROM webhook_receipts").Scan(&stored); err != nil {
		return result{}, err
	}
	if stored != ok2xx.Load() {
		return result{}, fmt.Errorf("webhooks: %d deliveries got a 2xx but %d receipts are stored", ok2xx.Load(), stored)
	}
	progress(log, "webhooks: %d stored (%d failed), %d in the measured %s", stored, failed.Load(), lat.count(), o.duration)
	if err := srv.stop(); err != nil {
		progress(log, "webhooks: server stop: %v", err)
	}

	base, baseUse, err := webhooksBaseline(ctx, o, d, log)
	if err != nil {
		return result{}, err
	}
	res := result{
		Bespin: map[string]float64{
			"per_sec": float64(lat.count()) / o.duration.Seconds(),
			"p50_ms":  lat.percentile(50),
			"p99_ms":  lat.percentile(99),
			"stored":  float64(stored),
			"errors":  float64(failed.Load()),
		},
		Baseline: base,
		Notes: fmt.Sprintf("HTTP + HMAC verify + idempotency + receipt and River job in one transaction, vs plain INSERTs of the same rows "+
			"(%d clients). Bespin: %s. Baseline: %s", o.concurrency, use, baseUse),
	}
	use.figures(res.Bespin)
	res.Bespin["cpu_us_per_op"], res.Bespin["pg_us_per_op"] = use.perOp(float64(lat.count()))
	res.compare("per_sec", "p50_ms", "p99_ms", "cpu_us_per_op")
	return res, nil
}

func webhooksBaseline(ctx context.Context, o options, d *benchDB, log io.Writer) (map[string]float64, usage, error) {
	if _, err := d.pool.Exec(ctx, "CREATE TABLE bench_receipts (LIKE webhook_receipts INCLUDING ALL)"); err != nil {
		return nil, usage{}, err
	}
	progress(log, "webhooks baseline: %d connections inserting for %s after %s of warm-up", o.concurrency, o.duration, o.warmup)
	var lat latencies
	var rows atomic.Int64
	win := newWindow(o)
	measured := observe(ctx, o, log, win, d.pool, d.name, nil, "webhooks baseline")
	var wg sync.WaitGroup
	for w := range o.concurrency {
		wg.Go(func() {
			for n := 0; time.Now().Before(win.end) && ctx.Err() == nil; n++ {
				dv := newDelivery(w, n)
				t0 := time.Now()
				_, err := d.pool.Exec(ctx, `INSERT INTO bench_receipts
					(source, event, delivery_id, body, payload, headers, signature, verified, client_addr)
					VALUES ('test', 'bench.delivery', $1, $2, $3, $4, $5, true, '127.0.0.1')`,
					dv.id, dv.body, string(dv.body),
					`{"Content-Type":["application/json"],"X-Webhook-Event":["bench.delivery"],"X-Webhook-Id":["`+dv.id+`"]}`,
					"sha256="+dv.signature)
				if err == nil {
					rows.Add(1)
					if win.measured(t0) {
						lat.add(time.Since(t0))
					}
				}
			}
		})
	}
	wg.Wait()
	use := measured()
	progress(log, "webhooks baseline: %s rows, %d in the measured %s", strconv.FormatInt(rows.Load(), 10), lat.count(), o.duration)
	figures := map[string]float64{
		"per_sec": float64(lat.count()) / o.duration.Seconds(),
		"p50_ms":  lat.percentile(50),
		"p99_ms":  lat.percentile(99),
		"stored":  float64(rows.Load()),
	}
	use.figures(figures)
	figures["cpu_us_per_op"], figures["pg_us_per_op"] = use.perOp(float64(lat.count()))
	return figures, use, nil
}
