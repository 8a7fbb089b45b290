package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/bespin/bespin/internal/dbtest"
	"github.com/bespin/bespin/webhook"
)

func getWithToken(t *testing.T, url, token string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	return resp
}

func TestWebhookStats(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL := dbtest.URL(t)
	srv := startServer(t, "DATABASE_URL="+dbURL, "API_TOKEN=s3cret,other")

	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	base := time.Now().UTC().Truncate(time.Hour).Add(-3 * time.Hour)
	_, err = conn.Exec(ctx, `
		INSERT INTO webhook_receipts (source, event, body, payload, verified, created_at, processed_at) VALUES
		('github', 'push', '\x7b7d', '{}', true, $1::timestamptz + interval '5 min', $1::timestamptz + interval '5 min 1 s'),
		('github', 'push', '\x7b7d', '{}', true, $1::timestamptz + interval '50 min', $1::timestamptz + interval '50 min 3 s'),
		('github', 'issues', '\x7b7d', '{}', true, $1::timestamptz + interval '65 min', NULL),
		('stripe', 'invoice.paid', '\x7b7d', '{}', true, $1::timestamptz + interval '70 min', NULL)`, base)
	require.NoError(t, err)

	resp := getWithToken(t, srv.URL+"/api/webhooks/stats", "")
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "stats need the token")
	resp = getWithToken(t, srv.URL+"/api/webhooks/stats", "wrong")
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	var stats webhookStatsBody
	decode(t, getWithToken(t, srv.URL+"/api/webhooks/stats?source=github", "other"), http.StatusOK, &stats)
	require.Equal(t, "hour", stats.Bucket)
	require.Len(t, stats.Stats, 2, "github: push in the first hour, issues in the second")
	require.Equal(t, "issues", stats.Stats[0].Event, "newest bucket first")
	require.Nil(t, stats.Stats[0].AvgProcessingSeconds, "nothing processed yet")
	push := stats.Stats[1]
	require.Equal(t, base, push.Bucket)
	require.EqualValues(t, 2, push.Receipts)
	require.EqualValues(t, 2, push.Processed)
	require.InDelta(t, 2.0, *push.AvgProcessingSeconds, 0.001)

	decode(t, getWithToken(t, srv.URL+"/api/webhooks/stats?bucket=day&since="+base.Format(time.RFC3339), "s3cret"), http.StatusOK, &stats)
	total := int64(0)
	for _, s := range stats.Stats {
		total += s.Receipts
	}
	require.EqualValues(t, 4, total)

	decode(t, getWithToken(t, srv.URL+"/api/webhooks/stats?until="+base.Format(time.RFC3339), "s3cret"), http.StatusOK, &stats)
	require.Empty(t, stats.Stats, "until is exclusive and everything is later")

	for _, bad := range []string{"bucket=week", "since=yesterday", "since=2026-11-22T10:00:00Z&until=2026-11-22T09:00:00Z"} {
		var e errorResponse
		decode(t, getWithToken(t, srv.URL+"/api/webhooks/stats?"+bad, "s3cret"), http.StatusBadRequest, &e)
		require.Equal(t, "invalid_parameter", e.Error.Code, bad)
		require.NotEmpty(t, e.Error.Message, bad)
	}
}

type webhookStatsBody struct {
	Bucket string `json:"bucket"`
	Stats  []struct {
		Bucket               time.Time `json:"bucket"`
		Source               string    `json:"source"`
		Event                string    `json:"event"`
		Receipts             int64     `json:"receipts"`
		Processed            int64     `json:"processed"`
		AvgProcessingSeconds *float64  `json:"avg_processing_seconds"`
	} `json:"stats"`
}

func decode(t *testing.T, resp *http.Response, status int, into any) {
	t.Helper()
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, status, resp.StatusCode, "body: %s", body)
	require.NoError(t, json.Unmarshal(body, into), "body: %s", body)
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL := dbtest.URL(t)
	srv := startServer(t, "DATABASE_URL="+dbURL, "API_TOKEN=tok", "RUN_WORKERS=false")
	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `INSERT INTO river_job (kind, args, state, max_attempts, queue, priority) VALUES
		('random-text', '{}', 'available', 25, 'default', 1), ('random-text', '{}', 'available', 25, 'default', 1)`)
	require.NoError(t, err)

	resp := getWithToken(t, srv.URL+"/metrics", "")
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	getWithToken(t, srv.URL+"/api/test", "").Body.Close()
	body := `{"event":"order.created"}`
	mac := hmac.New(sha256.New, []byte(webhook.DefaultTestSecret))
	mac.Write([]byte(body))
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/api/webhooks/test", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Webhook-Signature", hex.EncodeToString(mac.Sum(nil)))
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)

	resp = getWithToken(t, srv.URL+"/metrics", "tok")
	page, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	text := string(page)
	require.Contains(t, text, `bespin_http_requests_total{method="GET",route="GET /api/test",status="200"} 1`)
	require.Contains(t, text, `bespin_jobs{kind="random-text",queue="default",state="available"} 2`)
	require.Contains(t, text, "bespin_jobs_scrape_error 0")
	require.True(t, strings.Contains(text, "bespin_http_request_duration_seconds_bucket"))
	require.Contains(t, text, `bespin_webhooks_received_total{outcome="stored",source="test"} 1`)
	require.Contains(t, text, "bespin_webhook_batch_size_count 1")
}
