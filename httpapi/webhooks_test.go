package httpapi_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/bespin/bespin/httpapi"
	"github.com/bespin/bespin/ingest"
	"github.com/bespin/bespin/internal/dbtest"
	"github.com/bespin/bespin/internal/env"
	"github.com/bespin/bespin/internal/redistest"
	"github.com/bespin/bespin/jobs"
	"github.com/bespin/bespin/metrics"
	"github.com/bespin/bespin/ratelimit"
	"github.com/bespin/bespin/realtime"
	"github.com/bespin/bespin/store"
	"github.com/bespin/bespin/webhook"
)

const (
	githubSecret = "gh-secret"
	stripeSecret = "whsec_stripe"
	acmeSecret   = "acme-secret"
	testToken    = "read-token"
)

type testBundle struct {
	url     string
	pool    *pgxpool.Pool
	rdb     *redis.Client
	prefix  string
	metrics *metrics.Metrics
	sg      *ecdsa.PrivateKey
}

type setupOpts struct {
	dbURL     string // default: a fresh database
	redisAddr string // default: the test Redis
	limit     ratelimit.Limit
	maxBody   int64
	maxHeader int
	// handlers, when set, starts River workers that run them.
	handlers *jobs.WebhookHandlers
}

// setup serves the real API on a real port, against a fresh database and
// the real Redis, with a River client (insert-only unless handlers are
// given, so enqueued jobs stay countable).
func setup(t *testing.T, opts setupOpts) *testBundle {
	t.Helper()
	ctx := context.Background()
	rdb, prefix := redistest.New(t)
	if opts.redisAddr != "" {
		rdb = redis.NewClient(&redis.Options{Addr: opts.redisAddr, DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
		t.Cleanup(func() { rdb.Close() })
	}
	dbURL := opts.dbURL
	if dbURL == "" {
		dbURL = dbtest.URL(t)
	}
	pool, err := pgxpool.New(ctx, dbURL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)

	sg, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKIXPublicKey(&sg.PublicKey)
	require.NoError(t, err)
	reg, err := webhook.NewRegistry(env.Parse([]string{
		"GITHUB_WEBHOOK_SECRET=old-secret," + githubSecret,
		"STRIPE_WEBHOOK_SECRET=" + stripeSecret,
		"SENDGRID_WEBHOOK_PUBLIC_KEY=" + base64.StdEncoding.EncodeToString(der),
		"WEBHOOK_SECRET_ACME=" + acmeSecret,
	}), webhook.Options{Development: true, Tolerance: 5 * time.Minute})
	require.NoError(t, err)

	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	riverCfg := &river.Config{Logger: logger, Workers: jobs.NewWorkers(jobs.WorkerDeps{Logger: logger, Pool: pool, WebhookHandlers: opts.handlers})}
	if opts.handlers != nil {
		riverCfg.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 10}}
		riverCfg.FetchPollInterval = 50 * time.Millisecond
		riverCfg.FetchCooldown = 10 * time.Millisecond
		riverCfg.RetryPolicy = retrySoon{}
	}
	rc, err := river.NewClient(riverpgxv5.New(pool), riverCfg)
	require.NoError(t, err)
	if opts.handlers != nil {
		require.NoError(t, rc.Start(ctx))
		t.Cleanup(func() {
			stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = rc.StopAndCancel(stopCtx)
		})
	}

	st := store.New(pool)
	announcer := realtime.NewAnnouncer(realtime.AnnouncerConfig{ConnConfig: pool.Config().ConnConfig, Logger: logger})
	announceCtx, stopAnnouncer := context.WithCancel(ctx)
	announced := make(chan struct{})
	go func() { defer close(announced); announcer.Run(announceCtx) }()
	t.Cleanup(func() { stopAnnouncer(); <-announced })

	m := metrics.New()
	maxBody := opts.maxBody
	if maxBody == 0 {
		maxBody = webhook.DefaultMaxBodyBytes
	}
	srv := httptest.NewServer(httpapi.NewHandler(httpapi.Deps{
		Logger: logger,
		Store:  st,
		Pool:   pool,
		River:  rc,
		Ingester: ingest.New(ingest.Config{
			Pool: pool, River: rc, Redis: rdb, KeyPrefix: prefix, Logger: logger, Announcer: announcer.Topic(realtime.WebhookChannel),
			ContentWindow: 24 * time.Hour,
		}),
		Redis:                 rdb,
		Limiter:               ratelimit.New(rdb, prefix+"rl:"),
		Metrics:               m,
		APITokens:             []string{testToken},
		RateLimitWebhooks:     opts.limit,
		Webhooks:              reg,
		WebhookMaxBodyBytes:   maxBody,
		WebhookMaxHeaderBytes: opts.maxHeader,
	}))
	t.Cleanup(srv.Close)
	return &testBundle{url: srv.URL, pool: pool, rdb: rdb, prefix: prefix, metrics: m, sg: sg}
}

// retrySoon retries failed jobs almost at once, so retry tests are quick.
type retrySoon struct{}

func (retrySoon) NextRetry(*rivertype.JobRow) time.Time { return time.Now().Add(20 * time.Millisecond) }

type delivery struct {
	source      string
	contentType string
	header      http.Header
	body        string
}

func hexMAC(secret, content string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(content))
	return hex.EncodeToString(m.Sum(nil))
}

// testDelivery is a seed-generic delivery to the test source (development
// default secret), with an optional delivery id.
func testDelivery(event, id string) delivery {
	body := `{"event":"` + event + `","n":1}`
	h := http.Header{"X-Webhook-Signature": {"sha256=" + hexMAC(webhook.DefaultTestSecret, body)}}
	if id != "" {
		h.Set("Idempotency-Key", id)
	}
	return delivery{source: "test", body: body, header: h}
}

func githubDelivery(id, event, body string) delivery {
	return delivery{source: "github", body: body, header: http.Header{
		"X-Hub-Signature-256": {"sha256=" + hexMAC(githubSecret, body)},
		"X-Github-Event":      {event},
		"X-Github-Delivery":   {id},
	}}
}

type createdResponse struct {
	ID        string    `json:"id"`
	Source    string    `json:"source"`
	Event     string    `json:"event"`
	Verified  bool      `json:"verified"`
	Duplicate bool      `json:"duplicate"`
	CreatedAt time.Time `json:"created_at"`
}

type errorResponse struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) created(t *testing.T) createdResponse {
	t.Helper()
	var c createdResponse
	require.NoError(t, json.Unmarshal(r.body, &c), string(r.body))
	return c
}

func (r response) errorCode(t *testing.T) string {
	t.Helper()
	var e errorResponse
	require.NoError(t, json.Unmarshal(r.body, &e), string(r.body))
	require.NotEmpty(t, e.Error.Message)
	return e.Error.Code
}

func (b *testBundle) post(t *testing.T, d delivery) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.url+"/api/webhooks/"+d.source, strings.NewReader(d.body))
	require.NoError(t, err)
	for k, vs := range d.header {
		req.Header[k] = vs
	}
	ct := d.contentType
	if ct == "" {
		ct = "application/json"
	}
	req.Header.Set("Content-Type", ct)
	return do(t, req)
}

func do(t *testing.T, req *http.Request) response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{status: resp.StatusCode, header: resp.Header, body: body}
}

func (b *testBundle) get(t *testing.T, path, token string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.url+path, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return do(t, req)
}

func (b *testBundle) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, b.pool.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}

func (b *testBundle) receipts(t *testing.T) int {
	return b.count(t, "SELECT count(*) FROM webhook_receipts")
}

func (b *testBundle) webhookJobs(t *testing.T) int {
	return b.count(t, "SELECT count(*) FROM river_job WHERE kind = 'process-webhook'")
}

func (b *testBundle) outcome(source, outcome string) float64 {
	return testutil.ToFloat64(b.metrics.WebhooksReceived.WithLabelValues(source, outcome))
}

// TestWebhookStatusOrder walks the order of checks: each request fails
// several checks at once and must get the answer of the earliest one, and
// no rejected delivery leaves a row or a job.
func TestWebhookStatusOrder(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{maxBody: 512})
	good := testDelivery("ping", "")
	badSig := http.Header{"X-Webhook-Signature": {hexMAC("wrong", good.body)}}
	big := `{"event":"ping","pad":"` + strings.Repeat("x", 600) + `"}`

	for _, tc := range []struct {
		name   string
		d      delivery
		status int
		code   string
	}{
		{"unknown source beats media type and signature", delivery{source: "nope", contentType: "text/plain", body: big, header: badSig}, 404, "unknown_source"},
		{"unknown source with a good signature", delivery{source: "test2", body: good.body, header: good.header}, 404, "unknown_source"},
		{"media type beats size and signature", delivery{source: "test", contentType: "text/plain", body: big, header: badSig}, 415, "unsupported_media_type"},
		{"missing media type", delivery{source: "test", contentType: ";", body: good.body, header: good.header}, 415, "unsupported_media_type"},
		{"size beats signature", delivery{source: "test", body: big, header: badSig}, 413, "payload_too_large"},
		{"signature beats JSON", delivery{source: "test", body: `{"event":`, header: badSig}, 401, "invalid_signature"},
		{"no signature", delivery{source: "test", body: good.body, header: http.Header{"X-Webhook-Event": {"ping"}}}, 401, "invalid_signature"},
		{"JSON beats event", delivery{source: "test", body: `{"nope`, header: http.Header{"X-Webhook-Signature": {hexMAC(webhook.DefaultTestSecret, `{"nope`)}}}, 400, "invalid_payload"},
		{"event missing", delivery{source: "test", body: `{"a":1}`, header: http.Header{"X-Webhook-Signature": {hexMAC(webhook.DefaultTestSecret, `{"a":1}`)}}}, 400, "missing_event"},
		{"jsonb refuses NUL", delivery{source: "test", body: `{"event":"x","a":"\u0000"}`, header: http.Header{"X-Webhook-Signature": {hexMAC(webhook.DefaultTestSecret, `{"event":"x","a":"\u0000"}`)}}}, 400, "invalid_payload"},
	} {
		resp := b.post(t, tc.d)
		require.Equal(t, tc.status, resp.status, "%s: %s", tc.name, resp.body)
		require.Equal(t, tc.code, resp.errorCode(t), tc.name)
		require.Contains(t, resp.header.Get("Content-Type"), "application/json", tc.name)
	}
	require.NotContains(t, string(b.post(t, delivery{source: "test", body: good.body, header: badSig}).body), hexMAC(webhook.DefaultTestSecret, good.body),
		"the expected signature is never echoed")
	require.Zero(t, b.receipts(t), "rejected deliveries leave no row")
	require.Zero(t, b.webhookJobs(t), "rejected deliveries enqueue nothing")

	// A body over the cap without Content-Length (chunked) is cut off too.
	req, err := http.NewRequest(http.MethodPost, b.url+"/api/webhooks/test", io.MultiReader(strings.NewReader(big)))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Webhook-Signature", hexMAC(webhook.DefaultTestSecret, big))
	resp := do(t, req)
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.status)

	resp = b.post(t, good)
	require.Equal(t, http.StatusCreated, resp.status, string(resp.body))
	c := resp.created(t)
	require.Equal(t, "test", c.Source)
	require.Equal(t, "ping", c.Event)
	require.True(t, c.Verified)
	require.False(t, c.Duplicate)
	require.False(t, c.CreatedAt.IsZero())
	require.Equal(t, "/api/webhooks/"+c.ID, resp.header.Get("Location"))
	require.Equal(t, 1, b.receipts(t))
	require.Equal(t, 1, b.webhookJobs(t))
	require.Equal(t, 1, b.count(t, "SELECT count(*) FROM river_job WHERE kind = 'process-webhook' AND args->>'receipt_id' = $1", c.ID))

	require.Equal(t, 1.0, b.outcome("test", "stored"))
	require.Equal(t, 3.0, b.outcome("test", "unauthorized"))
	require.Equal(t, 3.0, b.outcome("test", "invalid"))
	require.Equal(t, 2.0, b.outcome("unknown", "unknown_source"))
	require.Equal(t, 2.0, b.outcome("test", "unsupported_media_type"))
	require.Equal(t, 2.0, b.outcome("test", "too_large"))
}

func TestWebhookRateLimited(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{limit: ratelimit.Limit{PerMinute: 1, Burst: 1}})
	resp := b.post(t, delivery{source: "nope", body: "{}"})
	require.Equal(t, http.StatusNotFound, resp.status)
	require.Equal(t, "1", resp.header.Get("RateLimit-Limit"))

	// The budget is spent: 429 comes before the 404.
	resp = b.post(t, delivery{source: "nope", body: "{}"})
	require.Equal(t, http.StatusTooManyRequests, resp.status)
	require.Equal(t, "rate_limited", resp.errorCode(t))
	require.NotEmpty(t, resp.header.Get("Retry-After"))
	require.Equal(t, "0", resp.header.Get("RateLimit-Remaining"))
	require.NotEmpty(t, resp.header.Get("RateLimit-Reset"))

	// Per source: the test source still has its own budget, once.
	d := testDelivery("ping", "")
	require.Equal(t, http.StatusCreated, b.post(t, d).status)
	resp = b.post(t, d)
	require.Equal(t, http.StatusTooManyRequests, resp.status)
	require.Equal(t, 1, b.receipts(t))
	require.Equal(t, 1.0, b.outcome("test", "rate_limited"))
}

// TestWebhookStored checks the row: the body byte for byte, the payload,
// redacted headers, the signature, the client address; and the read API's
// view of it.
func TestWebhookStored(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	body := "{\n  \"zen\": \"Keep it logically awesome.\",  \"hook_id\": 1 }\n"
	d := githubDelivery("72d3162e-cc78-11e3-81ab-4c9367dc0958", "ping", body)
	d.header.Set("Authorization", "Bearer leaked")
	d.header.Set("User-Agent", "GitHub-Hookshot/abc")
	resp := b.post(t, d)
	require.Equal(t, http.StatusCreated, resp.status, string(resp.body))
	c := resp.created(t)

	var (
		raw, payload, headers []byte
		signature, delivery   string
		verified              bool
		addr                  string
	)
	require.NoError(t, b.pool.QueryRow(context.Background(),
		`SELECT body, payload, headers, signature, delivery_id, verified, host(client_addr) FROM webhook_receipts WHERE id = $1`, c.ID).
		Scan(&raw, &payload, &headers, &signature, &delivery, &verified, &addr))
	require.Equal(t, body, string(raw), "the body is stored byte for byte")
	require.JSONEq(t, body, string(payload))
	require.Equal(t, "sha256="+hexMAC(githubSecret, body), signature)
	require.Equal(t, "72d3162e-cc78-11e3-81ab-4c9367dc0958", delivery)
	require.True(t, verified)
	require.Equal(t, "127.0.0.1", addr)
	var h map[string][]string
	require.NoError(t, json.Unmarshal(headers, &h))
	require.Equal(t, []string{webhook.RedactedValue}, h["X-Hub-Signature-256"])
	require.Equal(t, []string{webhook.RedactedValue}, h["Authorization"])
	require.Equal(t, []string{"ping"}, h["X-Github-Event"])
	require.NotContains(t, string(headers), "leaked")
	require.NotContains(t, string(headers), hexMAC(githubSecret, body))

	// The single-receipt GET shows payload and headers; the raw body on request.
	got := b.get(t, "/api/webhooks/"+c.ID, testToken)
	require.Equal(t, http.StatusOK, got.status, string(got.body))
	var rec map[string]any
	require.NoError(t, json.Unmarshal(got.body, &rec))
	require.Equal(t, c.ID, rec["id"])
	require.Equal(t, "github", rec["source"])
	require.Equal(t, "ping", rec["event"])
	require.Equal(t, "Keep it logically awesome.", rec["payload"].(map[string]any)["zen"])
	require.Nil(t, rec["body"])
	require.Nil(t, rec["processed_at"], "no worker runs in this test")

	got = b.get(t, "/api/webhooks/"+c.ID+"?include=body", testToken)
	require.NoError(t, json.Unmarshal(got.body, &rec))
	rawBody, err := base64.StdEncoding.DecodeString(rec["body"].(string))
	require.NoError(t, err)
	require.Equal(t, body, string(rawBody))
}

func TestWebhookDuplicateSequential(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	d := testDelivery("order.created", "delivery-1")
	first := b.post(t, d)
	require.Equal(t, http.StatusCreated, first.status, string(first.body))
	orig := first.created(t)

	// The Redis fast path remembers it...
	n, err := b.rdb.Exists(context.Background(), b.prefix+webhook.IdempotencyKey("test", "delivery-1")).Result()
	require.NoError(t, err)
	require.Equal(t, int64(1), n)

	for i := 0; i < 2; i++ {
		resp := b.post(t, d)
		require.Equal(t, http.StatusOK, resp.status, string(resp.body))
		dup := resp.created(t)
		require.True(t, dup.Duplicate)
		require.Equal(t, orig.ID, dup.ID)
		require.True(t, orig.CreatedAt.Equal(dup.CreatedAt))
		require.Equal(t, "/api/webhooks/"+orig.ID, resp.header.Get("Location"))
	}

	// ...but Postgres is the guarantee: forget the Redis key and the next
	// copy is still a duplicate.
	require.NoError(t, b.rdb.Del(context.Background(), b.prefix+webhook.IdempotencyKey("test", "delivery-1")).Err())
	resp := b.post(t, d)
	require.Equal(t, http.StatusOK, resp.status)
	require.Equal(t, orig.ID, resp.created(t).ID)

	// The same delivery id on another source is another delivery.
	body := `{"event":"order.created"}`
	other := delivery{source: "acme", body: body, header: http.Header{
		"X-Webhook-Signature": {hexMAC(acmeSecret, body)}, "X-Webhook-Id": {"delivery-1"},
	}}
	require.Equal(t, http.StatusCreated, b.post(t, other).status)

	require.Equal(t, 2, b.receipts(t))
	require.Equal(t, 2, b.webhookJobs(t))
	require.Equal(t, 3.0, b.outcome("test", "duplicate"))
}

// Fifty copies of one delivery at once make one row and one job.
func TestWebhookDuplicateConcurrent(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	statuses, ids := postConcurrently(t, b, githubDelivery("concurrent-1", "push", `{"ref":"refs/heads/main"}`), 50)
	require.Equal(t, 1, statuses[http.StatusCreated], "%v", statuses)
	require.Equal(t, 49, statuses[http.StatusOK], "%v", statuses)
	require.Len(t, ids, 1, "every copy answers with the one receipt")
	require.Equal(t, 1, b.receipts(t))
	require.Equal(t, 1, b.webhookJobs(t))
}

// Without a delivery id (the seed's generic scheme needs none), the same
// body posted again to the same source within WEBHOOK_DEDUPE_WINDOW is a
// duplicate, concurrent copies included; it used to be stored twice.
func TestWebhookDuplicateByContent(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	d := testDelivery("ping", "")
	first := b.post(t, d)
	require.Equal(t, http.StatusCreated, first.status, string(first.body))
	second := b.post(t, d)
	require.Equal(t, http.StatusOK, second.status, string(second.body))
	require.True(t, second.created(t).Duplicate)
	require.Equal(t, first.created(t).ID, second.created(t).ID)

	other := testDelivery("pong", "")
	require.Equal(t, http.StatusCreated, b.post(t, other).status, "another body is another delivery")

	statuses, ids := postConcurrently(t, b, testDelivery("storm", ""), 50)
	require.Equal(t, 1, statuses[http.StatusCreated], "%v", statuses)
	require.Equal(t, 49, statuses[http.StatusOK], "%v", statuses)
	require.Len(t, ids, 1)
	require.Equal(t, 3, b.receipts(t))
	require.Equal(t, 3, b.webhookJobs(t))
}

func postConcurrently(t *testing.T, b *testBundle, d delivery, n int) (map[int]int, map[string]bool) {
	t.Helper()
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		statuses = map[int]int{}
		ids      = map[string]bool{}
		start    = make(chan struct{})
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			req, _ := http.NewRequest(http.MethodPost, b.url+"/api/webhooks/"+d.source, strings.NewReader(d.body))
			for k, vs := range d.header {
				req.Header[k] = vs
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			var c createdResponse
			_ = json.NewDecoder(resp.Body).Decode(&c)
			mu.Lock()
			statuses[resp.StatusCode]++
			if c.ID != "" {
				ids[c.ID] = true
			}
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	return statuses, ids
}

// With Redis unreachable, rate limiting fails open and Postgres alone
// catches duplicates, concurrent ones included.
func TestWebhookRedisDown(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{redisAddr: "127.0.0.1:1", limit: ratelimit.Limit{PerMinute: 1, Burst: 1}})
	d := testDelivery("ping", "redis-down-1")
	first := b.post(t, d)
	require.Equal(t, http.StatusCreated, first.status, string(first.body))
	second := b.post(t, d)
	require.Equal(t, http.StatusOK, second.status, string(second.body))
	require.True(t, second.created(t).Duplicate)
	require.Equal(t, first.created(t).ID, second.created(t).ID)

	statuses, ids := postConcurrently(t, b, testDelivery("ping", "redis-down-2"), 20)
	require.Equal(t, 1, statuses[http.StatusCreated], "%v", statuses)
	require.Equal(t, 19, statuses[http.StatusOK], "%v", statuses)
	require.Len(t, ids, 1)

	require.Equal(t, 2, b.receipts(t))
	require.Equal(t, 2, b.webhookJobs(t))
	require.Positive(t, testutil.ToFloat64(b.metrics.RateLimitFailOpen.WithLabelValues("webhooks")))
}

// Postgres down: 503 with Retry-After and no internal text, never a 2xx;
// back up: stored.
func TestWebhookPostgresDown(t *testing.T) {
	t.Parallel()
	proxy, proxied := dbtest.NewProxy(t, dbtest.URL(t))
	b := setup(t, setupOpts{dbURL: proxied})
	proxy.Down()
	d := testDelivery("ping", "pg-down-1")
	resp := b.post(t, d)
	require.Equal(t, http.StatusServiceUnavailable, resp.status, string(resp.body))
	require.Equal(t, "service_unavailable", resp.errorCode(t))
	require.NotEmpty(t, resp.header.Get("Retry-After"))
	require.NotContains(t, string(resp.body), "127.0.0.1")
	require.NotContains(t, strings.ToLower(string(resp.body)), "dial")

	// A delivery without an id takes the same path.
	resp = b.post(t, testDelivery("ping", ""))
	require.Equal(t, http.StatusServiceUnavailable, resp.status)

	proxy.Up()
	require.Eventually(t, func() bool { return b.post(t, d).status == http.StatusCreated }, 15*time.Second, 100*time.Millisecond)
	require.Equal(t, http.StatusOK, b.post(t, d).status)
	require.Equal(t, 1, b.receipts(t))
}

func TestWebhookGitHubFormEncoded(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	payload := `{"action":"opened","number":7}`
	body := url.Values{"payload": {payload}}.Encode()
	d := githubDelivery("form-1", "pull_request", body)
	d.contentType = "application/x-www-form-urlencoded"
	resp := b.post(t, d)
	require.Equal(t, http.StatusCreated, resp.status, string(resp.body))
	c := resp.created(t)
	require.Equal(t, "pull_request", c.Event)

	var raw, stored []byte
	require.NoError(t, b.pool.QueryRow(context.Background(), "SELECT body, payload FROM webhook_receipts WHERE id = $1", c.ID).Scan(&raw, &stored))
	require.Equal(t, body, string(raw), "the signed form body is kept as received")
	require.JSONEq(t, payload, string(stored), "the payload is the form's JSON")

	// A form without payload= is not a delivery.
	d = githubDelivery("form-2", "pull_request", "other=1")
	d.contentType = "application/x-www-form-urlencoded"
	resp = b.post(t, d)
	require.Equal(t, http.StatusBadRequest, resp.status)
	require.Equal(t, "invalid_payload", resp.errorCode(t))
}

func TestWebhookStripeAndStandard(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	body := `{"id":"evt_123","type":"invoice.paid","data":{}}`
	stripe := delivery{source: "stripe", body: body, header: http.Header{
		"Stripe-Signature": {"t=" + ts + ",v1=" + hexMAC(stripeSecret, ts+"."+body)},
	}}
	resp := b.post(t, stripe)
	require.Equal(t, http.StatusCreated, resp.status, string(resp.body))
	require.Equal(t, "invoice.paid", resp.created(t).Event)
	require.Equal(t, http.StatusOK, b.post(t, stripe).status, "Stripe's event id is the delivery id")

	stale := strconv.FormatInt(time.Now().Add(-time.Hour).Unix(), 10)
	resp = b.post(t, delivery{source: "stripe", body: body, header: http.Header{
		"Stripe-Signature": {"t=" + stale + ",v1=" + hexMAC(stripeSecret, stale+"."+body)},
	}})
	require.Equal(t, http.StatusUnauthorized, resp.status)

	// Standard Webhooks on a WEBHOOK_SECRET_<NAME> source (a raw secret).
	m := hmac.New(sha256.New, []byte(acmeSecret))
	stdBody := `{"type":"user.created","data":{"id":1}}`
	m.Write([]byte("msg_1." + ts + "." + stdBody))
	std := delivery{source: "acme", body: stdBody, header: http.Header{
		"Webhook-Id": {"msg_1"}, "Webhook-Timestamp": {ts},
		"Webhook-Signature": {"v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))},
	}}
	resp = b.post(t, std)
	require.Equal(t, http.StatusCreated, resp.status, string(resp.body))
	require.Equal(t, "user.created", resp.created(t).Event)
	require.Equal(t, http.StatusOK, b.post(t, std).status)
	require.Equal(t, 2, b.receipts(t))
}

// A SendGrid batch is one receipt; its retry (the same bytes) is a
// duplicate.
func TestWebhookSendGridBatch(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	body := `[{"email":"a@example.com","event":"delivered","sg_event_id":"e1"},{"email":"b@example.com","event":"open","sg_event_id":"e2"}]`
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	digest := sha256.Sum256([]byte(ts + body))
	sig, err := ecdsa.SignASN1(rand.Reader, b.sg, digest[:])
	require.NoError(t, err)
	d := delivery{source: "sendgrid", body: body, header: http.Header{
		"X-Twilio-Email-Event-Webhook-Signature": {base64.StdEncoding.EncodeToString(sig)},
		"X-Twilio-Email-Event-Webhook-Timestamp": {ts},
	}}
	resp := b.post(t, d)
	require.Equal(t, http.StatusCreated, resp.status, string(resp.body))
	require.Equal(t, "batch", resp.created(t).Event)
	resp = b.post(t, d)
	require.Equal(t, http.StatusOK, resp.status)
	require.True(t, resp.created(t).Duplicate)
	require.Equal(t, 1, b.receipts(t))
	require.Equal(t, 2, b.count(t, "SELECT jsonb_array_length(payload) FROM webhook_receipts"))

	// Signed with another key: refused.
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	sig, err = ecdsa.SignASN1(rand.Reader, other, digest[:])
	require.NoError(t, err)
	d.header.Set("X-Twilio-Email-Event-Webhook-Signature", base64.StdEncoding.EncodeToString(sig))
	require.Equal(t, http.StatusUnauthorized, b.post(t, d).status)
}

// Each new receipt is announced on bespin_webhooks after commit with a
// summary, never the payload; duplicates are not announced.
func TestWebhookNotify(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := b.pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	_, err = conn.Exec(ctx, "LISTEN "+realtime.WebhookChannel)
	require.NoError(t, err)

	d := testDelivery("secret.event", "notify-1")
	d.body = `{"event":"secret.event","card":"4242"}`
	d.header.Set("X-Webhook-Signature", hexMAC(webhook.DefaultTestSecret, d.body))
	c := b.post(t, d).created(t)
	b.post(t, d) // a duplicate

	n, err := conn.Conn().WaitForNotification(ctx)
	require.NoError(t, err)
	require.Equal(t, realtime.WebhookChannel, n.Channel)
	var batch []map[string]any
	require.NoError(t, json.Unmarshal([]byte(n.Payload), &batch))
	require.Len(t, batch, 1, "one receipt, announced once")
	summary := batch[0]
	require.Equal(t, c.ID, summary["id"])
	require.Equal(t, "test", summary["source"])
	require.Equal(t, "secret.event", summary["event"])
	require.NotEmpty(t, summary["created_at"])
	require.NotContains(t, n.Payload, "4242")
	require.Len(t, summary, 4)
}

// The job runs the handlers registered for (source, event), retries a
// failing handler, sets processed_at, and runs the handlers once per
// receipt however many times the delivery came.
func TestWebhookProcessing(t *testing.T) {
	t.Parallel()
	var (
		mu       sync.Mutex
		attempts = map[string]int{}
		done     = map[string]int{}
		others   = 0
	)
	handlers := jobs.NewWebhookHandlers()
	handlers.Handle("github", "push", func(ctx context.Context, tx pgx.Tx, r store.Receipt) error {
		mu.Lock()
		defer mu.Unlock()
		attempts[r.ID.String()]++
		if attempts[r.ID.String()] == 1 {
			return io.ErrUnexpectedEOF // first attempt fails; River retries
		}
		done[r.ID.String()]++
		return nil
	})
	handlers.Handle("github", jobs.AnyEvent, func(ctx context.Context, tx pgx.Tx, r store.Receipt) error {
		mu.Lock()
		defer mu.Unlock()
		others++
		return nil
	})
	b := setup(t, setupOpts{handlers: handlers})

	d := githubDelivery("processing-1", "push", `{"ref":"refs/heads/main"}`)
	c := b.post(t, d).created(t)
	require.Equal(t, http.StatusOK, b.post(t, d).status)
	require.Equal(t, http.StatusOK, b.post(t, d).status)
	star := b.post(t, githubDelivery("processing-2", "issues", `{"action":"opened"}`)).created(t)

	processed := func(id string) bool {
		return b.count(t, "SELECT count(*) FROM webhook_receipts WHERE id = $1 AND processed_at IS NOT NULL", id) == 1
	}
	require.Eventually(t, func() bool { return processed(c.ID) && processed(star.ID) }, 20*time.Second, 50*time.Millisecond)
	require.Eventually(t, func() bool {
		return b.count(t, "SELECT count(*) FROM river_job WHERE kind = 'process-webhook' AND state = 'completed'") == 2
	}, 10*time.Second, 50*time.Millisecond)

	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, 2, attempts[c.ID], "failed once, retried once")
	require.Equal(t, 1, done[c.ID], "the handler succeeded once for three deliveries")
	require.Equal(t, 2, others, "the any-event handler ran once per receipt (push after its retry, issues)")
	require.Equal(t, 2, b.webhookJobs(t))

	var rec map[string]any
	require.NoError(t, json.Unmarshal(b.get(t, "/api/webhooks/"+c.ID, testToken).body, &rec))
	require.NotNil(t, rec["processed_at"])
}

// A replay runs the receipt's handlers again, in a new job, and sets
// processed_at again.
func TestWebhookReplay(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	runs := map[string]int{}
	handlers := jobs.NewWebhookHandlers()
	handlers.Handle("github", "push", func(ctx context.Context, tx pgx.Tx, r store.Receipt) error {
		mu.Lock()
		defer mu.Unlock()
		runs[r.ID.String()]++
		return nil
	})
	b := setup(t, setupOpts{handlers: handlers})
	c := b.post(t, githubDelivery("replay-1", "push", `{"ref":"refs/heads/main"}`)).created(t)
	processedAt := func() *time.Time {
		var rec struct {
			ProcessedAt *time.Time `json:"processed_at"`
		}
		require.NoError(t, json.Unmarshal(b.get(t, "/api/webhooks/"+c.ID, testToken).body, &rec))
		return rec.ProcessedAt
	}
	require.Eventually(t, func() bool { return processedAt() != nil }, 20*time.Second, 50*time.Millisecond)
	first := *processedAt()

	req, err := http.NewRequest(http.MethodPost, b.url+"/api/webhooks/"+c.ID+"/replay", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testToken)
	res := do(t, req)
	require.Equal(t, http.StatusAccepted, res.status, string(res.body))
	require.Eventually(t, func() bool { p := processedAt(); return p != nil && p.After(first) }, 20*time.Second, 50*time.Millisecond)
	mu.Lock()
	require.Equal(t, 2, runs[c.ID], "the handler ran for the delivery and for the replay")
	mu.Unlock()
	require.Equal(t, 2, b.webhookJobs(t))
}

func TestWebhookReadAPI(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})

	// Seven receipts over two sources and two events.
	var ids []string
	for i := 0; i < 7; i++ {
		var d delivery
		if i%2 == 0 {
			d = testDelivery("ping", "read-"+strconv.Itoa(i))
		} else {
			d = githubDelivery("read-"+strconv.Itoa(i), "push", `{"i":`+strconv.Itoa(i)+`}`)
		}
		resp := b.post(t, d)
		require.Equal(t, http.StatusCreated, resp.status, string(resp.body))
		ids = append(ids, resp.created(t).ID)
	}
	// Newest first, as the database orders them.
	rows, err := b.pool.Query(context.Background(), "SELECT id::text FROM webhook_receipts ORDER BY created_at DESC, id DESC")
	require.NoError(t, err)
	newestFirst, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.ElementsMatch(t, ids, newestFirst)

	// Auth.
	for _, path := range []string{"/api/webhooks", "/api/webhooks/" + ids[0]} {
		require.Equal(t, http.StatusUnauthorized, b.get(t, path, "").status, path)
		resp := b.get(t, path, "wrong")
		require.Equal(t, http.StatusUnauthorized, resp.status, path)
		require.Equal(t, "unauthorized", resp.errorCode(t))
	}

	type listResponse struct {
		Webhooks []map[string]any `json:"webhooks"`
		Next     *string          `json:"next_cursor"`
	}
	list := func(query string) listResponse {
		t.Helper()
		resp := b.get(t, "/api/webhooks"+query, testToken)
		require.Equal(t, http.StatusOK, resp.status, "%s: %s", query, resp.body)
		var l listResponse
		require.NoError(t, json.Unmarshal(resp.body, &l))
		return l
	}
	idsOf := func(l listResponse) []string {
		out := []string{}
		for _, w := range l.Webhooks {
			out = append(out, w["id"].(string))
		}
		return out
	}

	// Pages of three: 3, 3, 1, in order, no overlap.
	var paged []string
	cursor := ""
	for page := 0; ; page++ {
		q := "?limit=3"
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		l := list(q)
		paged = append(paged, idsOf(l)...)
		for _, w := range l.Webhooks {
			require.NotContains(t, w, "payload", "lists leave the payload out by default")
			require.NotContains(t, w, "body")
		}
		if l.Next == nil {
			require.Equal(t, 2, page)
			break
		}
		cursor = *l.Next
	}
	require.Equal(t, newestFirst, paged)

	all := list("")
	require.Equal(t, newestFirst, idsOf(all), "default limit covers all seven")
	require.Nil(t, all.Next)

	// Filters.
	require.Len(t, idsOf(list("?source=github")), 3)
	require.Len(t, idsOf(list("?source=test&event=ping")), 4)
	require.Empty(t, idsOf(list("?source=test&event=push")))
	withPayload := list("?source=github&include=payload,body")
	require.NotNil(t, withPayload.Webhooks[0]["payload"])
	require.NotNil(t, withPayload.Webhooks[0]["body"])

	var middle time.Time
	require.NoError(t, b.pool.QueryRow(context.Background(), "SELECT created_at FROM webhook_receipts WHERE id = $1", newestFirst[3]).Scan(&middle))
	since := url.QueryEscape(middle.Format(time.RFC3339Nano))
	require.Equal(t, newestFirst[:4], idsOf(list("?since="+since)), "since is inclusive")
	require.Equal(t, newestFirst[4:], idsOf(list("?until="+since)), "until is exclusive")

	// Bad parameters name themselves.
	for query, param := range map[string]string{
		"?limit=0":                    "limit",
		"?limit=501":                  "limit",
		"?limit=ten":                  "limit",
		"?since=yesterday":            "since",
		"?until=2026-13-01T00:00:00Z": "until",
		"?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z": "until",
		"?cursor=nonsense":                   "cursor",
		"?source=Not%20A%20Source":           "source",
		"?include=headers":                   "include",
		"?event=" + strings.Repeat("e", 256): "event",
	} {
		resp := b.get(t, "/api/webhooks"+query, testToken)
		require.Equal(t, http.StatusBadRequest, resp.status, query)
		var e errorResponse
		require.NoError(t, json.Unmarshal(resp.body, &e))
		require.Equal(t, "invalid_parameter", e.Error.Code, query)
		require.True(t, strings.HasPrefix(e.Error.Message, param+" "), "%s: %s", query, e.Error.Message)
	}

	// One receipt: 404 unknown, 400 malformed.
	resp := b.get(t, "/api/webhooks/00000000-0000-4000-8000-000000000000", testToken)
	require.Equal(t, http.StatusNotFound, resp.status)
	require.Equal(t, "not_found", resp.errorCode(t))
	resp = b.get(t, "/api/webhooks/42", testToken)
	require.Equal(t, http.StatusBadRequest, resp.status)
	require.Equal(t, "invalid_id", resp.errorCode(t))
	resp = b.get(t, "/api/webhooks/"+ids[0]+"?include=payload", testToken)
	require.Equal(t, http.StatusBadRequest, resp.status, "the single GET always has the payload; only body is optional")
}

// Content-Type mistakes are named first: a missing or unknown type (415),
// a JSON body labelled form-encoded (curl -d's default; 415), a form
// without payload (400). A signature is still checked first on the bytes.
func TestWebhookContentTypeMessages(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	good := testDelivery("ping", "")
	send := func(contentType *string, body string) (int, errorResponse) {
		req, err := http.NewRequest(http.MethodPost, b.url+"/api/webhooks/test", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("X-Webhook-Signature", hexMAC(webhook.DefaultTestSecret, body))
		if contentType != nil {
			req.Header.Set("Content-Type", *contentType)
		}
		resp := do(t, req)
		var e errorResponse
		require.NoError(t, json.Unmarshal(resp.body, &e), string(resp.body))
		return resp.status, e
	}
	ptr := func(s string) *string { return &s }

	status, e := send(nil, good.body)
	require.Equal(t, http.StatusUnsupportedMediaType, status)
	require.Contains(t, e.Error.Message, "no Content-Type header")
	status, e = send(ptr("text/plain"), good.body)
	require.Equal(t, http.StatusUnsupportedMediaType, status)
	require.Contains(t, e.Error.Message, `"text/plain" is not accepted`)

	status, e = send(ptr("application/x-www-form-urlencoded"), good.body)
	require.Equal(t, http.StatusUnsupportedMediaType, status)
	require.Equal(t, "unsupported_media_type", e.Error.Code)
	require.Contains(t, e.Error.Message, "The body is JSON but its Content-Type is application/x-www-form-urlencoded")
	require.Contains(t, e.Error.Message, "Content-Type: application/json")

	status, e = send(ptr("application/x-www-form-urlencoded"), "event=ping")
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, e.Error.Message, "payload field")
	require.Contains(t, e.Error.Message, "Content-Type: application/json")
	require.Zero(t, b.receipts(t))
	require.Equal(t, 3.0, b.outcome("test", "unsupported_media_type"))
}

// A 429's message says how long to wait, in words: "1 second", not "1
// seconds".
func TestRateLimitMessage(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{limit: ratelimit.Limit{PerMinute: 60, Burst: 1}})
	// At 60 a minute with no burst, any refusal waits at most one second.
	for range 20 {
		resp := b.post(t, delivery{source: "nope", body: "{}"})
		if resp.status != http.StatusTooManyRequests {
			continue
		}
		var e errorResponse
		require.NoError(t, json.Unmarshal(resp.body, &e))
		require.Equal(t, "Too many requests from this address; retry after 1 second.", e.Error.Message)
		require.Equal(t, "1", resp.header.Get("Retry-After"))
		return
	}
	t.Fatal("no request was limited")
}

// The mux's own answers are JSON too: its redirects become a JSON 308
// with Location (GET /api → /api/; a path to clean), never HTML.
func TestMuxAnswersAreJSON(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for path, location := range map[string]string{"/api": "/api/", "/api//test": "/api/test"} {
		resp, err := noRedirect.Get(b.url + path)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusPermanentRedirect, resp.StatusCode, path)
		require.Equal(t, location, resp.Header.Get("Location"), path)
		require.Contains(t, resp.Header.Get("Content-Type"), "application/json", path)
		var e errorResponse
		require.NoError(t, json.Unmarshal(body, &e), "%s: %s", path, body)
		require.Contains(t, e.Error.Message, location)
	}
	// Followed, GET /api ends at the index.
	resp := b.get(t, "/api", "")
	require.Equal(t, http.StatusOK, resp.status)
	require.Contains(t, string(resp.body), `"name":"bespin"`)

	resp = b.get(t, "/", "")
	require.Equal(t, http.StatusNotFound, resp.status)
	require.Equal(t, "not_found", resp.errorCode(t))
}

// A delivery's headers are capped (WEBHOOK_MAX_HEADER_BYTES): over it, 431
// and nothing stored, however good the signature; under it, the receipt
// keeps them, so what a receipt stores is bounded too. It used to keep a
// 1 MiB header.
func TestWebhookHeadersCapped(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{maxHeader: 2048})
	big := testDelivery("ping", "big-headers")
	big.header.Set("X-Pad", strings.Repeat("p", 4096))
	resp := b.post(t, big)
	require.Equal(t, http.StatusRequestHeaderFieldsTooLarge, resp.status, string(resp.body))
	require.Equal(t, "headers_too_large", resp.errorCode(t))
	require.Contains(t, string(resp.body), "WEBHOOK_MAX_HEADER_BYTES")
	require.Zero(t, b.receipts(t))
	require.Equal(t, 1.0, b.outcome("test", "too_large"))

	fits := testDelivery("ping", "fitting-headers")
	fits.header.Set("X-Pad", strings.Repeat("p", 1024))
	resp = b.post(t, fits)
	require.Equal(t, http.StatusCreated, resp.status, string(resp.body))
	require.LessOrEqual(t, b.count(t, "SELECT octet_length(headers::text) FROM webhook_receipts"), 2*2048)
}
