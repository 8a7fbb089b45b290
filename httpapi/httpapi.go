// Package httpapi is Bespin's REST surface on net/http's ServeMux. Handlers
// are methods on *api that return an error; a.handle turns that error into
// the one JSON error shape and status (see errors.go), so no handler writes
// an error response by hand.
//
// openapi.yaml is the contract: it describes every route of the table
// below (tests fail when a route has no description or a description no
// route) and every response the end-to-end tests receive is checked
// against it (internal/openapitest). Authentication (a bearer token or a
// browser session) is in auth.go; River UI is mounted at /riverui/ behind
// the same check.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"reflect"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/riverqueue/river"

	"github.com/bespin/bespin/ingest"
	"github.com/bespin/bespin/internal/redisbreaker"
	"github.com/bespin/bespin/jobs"
	"github.com/bespin/bespin/metrics"
	"github.com/bespin/bespin/ratelimit"
	"github.com/bespin/bespin/realtime"
	"github.com/bespin/bespin/store"
	"github.com/bespin/bespin/webhook"
)

// Deps is everything the HTTP API needs, constructed by the caller.
type Deps struct {
	Logger *slog.Logger
	// Store reads jobs, receipts and sessions (and answers readiness for
	// Postgres).
	Store *store.Store
	// Pool runs the transactions of job and receipt control.
	Pool *pgxpool.Pool
	// River inserts, cancels, retries and deletes jobs.
	River *river.Client[pgx.Tx]
	// Ingester stores webhook deliveries.
	Ingester *ingest.Ingester
	// Redis is only pinged, for readiness; the limiter and the ingester
	// hold their own use of it.
	Redis redis.UniversalClient
	// RedisBreaker, if set, guards Redis; readiness reports since when
	// Redis has been unavailable.
	RedisBreaker *redisbreaker.Breaker
	Limiter      *ratelimit.Limiter
	Metrics      *metrics.Metrics
	Version      string
	// Realtime serves WebSockets (/api/ws, /api/ws/jobs).
	Realtime *realtime.Server
	// RiverUI, when set, is served at /riverui/ to authenticated callers.
	RiverUI http.Handler

	// APITokens protect the read and control API, metrics, dashboards and
	// River UI, directly (bearer) or through sessions made from them.
	// Empty leaves them open (development only; the config refuses it in
	// production).
	APITokens []string
	// SessionTTL is how long a browser session lasts.
	SessionTTL time.Duration
	// PrivateJobs makes reading a job (GET /api/jobs/{id}, /api/ws?job_id=)
	// need a token, a session or the job's watch token (production).
	// Otherwise job reads are open, as in the seed.
	PrivateJobs bool
	// TrustedProxies are the peers whose X-Forwarded-For and
	// X-Forwarded-Proto are believed.
	TrustedProxies []netip.Prefix

	// RateLimitJobs limits job creation and job and receipt control per
	// client IP, in one budget.
	RateLimitJobs     ratelimit.Limit
	RateLimitWebhooks ratelimit.Limit
	// RateLimitLogin limits sign-in attempts per client IP.
	RateLimitLogin ratelimit.Limit

	// Console serves the web console (package web) for GET requests to any
	// path outside the API; nil leaves them 404.
	Console http.Handler

	// Webhooks is the webhook source registry.
	Webhooks *webhook.Registry
	// WebhookMaxBodyBytes caps a webhook body.
	WebhookMaxBodyBytes int64
	// WebhookMaxHeaderBytes caps a delivery's headers, which its receipt
	// keeps (redacted); 0 leaves them to the server's own limit.
	WebhookMaxHeaderBytes int
}

type api struct {
	Deps
	// crossOrigin refuses cookie-authenticated writes from other origins.
	crossOrigin *http.CrossOriginProtection
	// jobInserter commits concurrent job creations together.
	jobInserter *jobs.Inserter
}

func newAPI(d Deps) *api {
	return &api{Deps: d, crossOrigin: http.NewCrossOriginProtection(), jobInserter: jobs.NewInserter(d.River)}
}

// NewHandler returns the whole HTTP API with its middleware.
func NewHandler(d Deps) http.Handler {
	a := newAPI(d)
	mux := http.NewServeMux()
	for _, rt := range a.routes() {
		mux.Handle(rt.pattern, rt.handler)
	}
	return a.requestID(a.recoverPanics(a.observe(a.jsonMiss(mux))))
}

// jsonMiss answers requests no route matches: the console's pages for GET
// outside the API, else 404, or 405 with Allow, in the JSON error shape
// instead of the mux's plain text. It turns the mux's redirects (a path to
// clean, /api to /api/) into a JSON 308 with Location instead of its HTML:
// 308 keeps the method and body, where the mux's 301 lets clients turn a
// POST into a GET.
func (a *api) jsonMiss(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		redirect := reflect.TypeOf(h) == muxRedirect
		if pattern != "" && !redirect {
			mux.ServeHTTP(w, r)
			return
		}
		if a.Console != nil && (r.Method == http.MethodGet || r.Method == http.MethodHead) && !apiPath(r.URL.Path) {
			r.Pattern = consolePattern // the route label of logs and metrics
			a.Console.ServeHTTP(w, r)
			return
		}
		probe := &missProbe{header: http.Header{}}
		h.ServeHTTP(probe, r)
		switch {
		case redirect:
			location := probe.header.Get("Location")
			w.Header().Set("Location", location)
			a.writeError(w, r, errorf(http.StatusPermanentRedirect, "moved_permanently", "This resource is at %s.", location))
		case probe.status == http.StatusMethodNotAllowed:
			e := errorf(http.StatusMethodNotAllowed, "method_not_allowed", "%s is not allowed on %s.", r.Method, r.URL.Path)
			e.Header = http.Header{"Allow": probe.header.Values("Allow")}
			a.writeError(w, r, e)
		default:
			a.writeError(w, r, errorf(http.StatusNotFound, "not_found", "No endpoint %s %s; see GET /api/ for the list.", r.Method, r.URL.Path))
		}
	})
}

// consolePattern labels the console's requests in logs and metrics.
const consolePattern = "GET /{console...}"

// apiPath reports whether path belongs to the API or River UI, whose
// unknown paths are JSON 404s, never console pages.
func apiPath(path string) bool {
	for _, p := range []string{"/api", "/riverui", "/healthz", "/readyz", "/metrics"} {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

// muxRedirect is the type of the handler ServeMux.Handler returns for a
// redirect (and only then: no route of ours is one).
var muxRedirect = reflect.TypeOf(http.RedirectHandler("/", http.StatusMovedPermanently))

// missProbe records what the mux's own 404/405 handler would have sent.
type missProbe struct {
	header http.Header
	status int
}

func (p *missProbe) Header() http.Header         { return p.header }
func (p *missProbe) Write(b []byte) (int, error) { return len(b), nil }
func (p *missProbe) WriteHeader(status int)      { p.status = status }

type route struct {
	pattern string
	handler http.Handler
}

// routes is the whole route table, on one screen. "auth" is a bearer
// token or a session (auth.go); writes are rate limited per client IP.
func (a *api) routes() []route {
	auth := func(h handlerFunc) http.Handler { return a.requireAuth(a.handle(h)) }
	write := func(h handlerFunc) http.Handler { return a.rateLimit("jobs", a.RateLimitJobs, auth(h)) }
	rs := []route{
		{"GET /healthz", a.handle(a.healthz)},
		{"GET /readyz", a.handle(a.readyz)},
		{"GET /metrics", a.requireAuth(a.metricsHandler())},

		{"GET /api/{$}", a.handle(a.index)},
		{"GET /api/test", a.handle(a.test)},
		{"GET /api/openapi.json", a.handle(a.openAPI)},

		{"POST /api/session", a.rateLimit("login", a.RateLimitLogin, a.handle(a.createSession))},
		{"GET /api/session", a.handle(a.getSession)}, // authenticates itself: it says how
		{"DELETE /api/session", a.handle(a.deleteSession)},

		{"POST /api/jobs/random-text", a.rateLimit("jobs", a.RateLimitJobs, a.handle(a.createRandomTextJob))},
		{"POST /api/jobs/{kind}", a.handle(a.unknownJobKind)},
		{"GET /api/jobs/test", a.handle(a.jobsTest)},
		{"GET /api/jobs/{id}", a.handle(a.getJob)}, // open, or its watch token (PrivateJobs)
		{"DELETE /api/jobs/{id}", write(a.deleteJob)},
		{"POST /api/jobs/{id}/cancel", write(a.cancelJob)},
		{"POST /api/jobs/{id}/retry", write(a.retryJob)},
		{"GET /api/jobs", auth(a.listJobs)},
		{"GET /api/ws", a.handle(a.websocket)},
		{"GET /api/ws/jobs", a.handle(a.websocket)},

		{"GET /api/webhooks/stats", auth(a.webhookStats)},
		{"POST /api/webhooks/{source}", a.webhookRateLimit(a.handle(a.receiveWebhook))},
		{"GET /api/webhooks", auth(a.listWebhooks)},
		{"GET /api/webhooks/{id}", auth(a.getWebhook)},
		{"POST /api/webhooks/{id}/replay", write(a.replayWebhook)},
	}
	if a.RiverUI != nil {
		rs = append(rs, route{"/riverui/", a.riverUI(a.RiverUI)})
	}
	return rs
}

// ping bounds readiness checks so /readyz answers quickly when a dependency
// hangs instead of refusing.
func (a *api) ping(ctx context.Context, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	return f(ctx)
}
