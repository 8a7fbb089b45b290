package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// healthz answers while the process lives; orchestrators restart it when not.
func (a *api) healthz(w http.ResponseWriter, r *http.Request) error {
	ok(w, map[string]string{"status": "ok"})
	return nil
}

type readiness struct {
	Status   string `json:"status"`   // ok or unavailable
	Postgres string `json:"postgres"` // ok or unavailable
	Redis    string `json:"redis"`    // ok or degraded
	// RedisDownSince is when Redis became unavailable, while it is.
	RedisDownSince *time.Time `json:"redis_down_since,omitempty"`
}

// readyz is 200 while Postgres answers. Redis only backs rate limits and the
// idempotency fast path, both of which work without it, so Redis down is
// "degraded", not unready. While the breaker skips Redis the ping fails at
// once, and the breaker says since when.
func (a *api) readyz(w http.ResponseWriter, r *http.Request) error {
	res := readiness{Status: "ok", Postgres: "ok", Redis: "ok"}
	status := http.StatusOK
	if err := a.ping(r.Context(), a.Store.Ping); err != nil {
		res.Status, res.Postgres = "unavailable", "unavailable"
		status = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", retryAfterUnavailable)
	}
	if err := a.ping(r.Context(), func(ctx context.Context) error { return a.Redis.Ping(ctx).Err() }); err != nil {
		res.Redis = "degraded"
		if a.RedisBreaker != nil {
			if up, since := a.RedisBreaker.State(); !up {
				res.RedisDownSince = &since
			}
		}
	}
	writeJSON(w, status, res)
	return nil
}

func (a *api) metricsHandler() http.Handler {
	return promhttp.HandlerFor(a.Metrics.Registry, promhttp.HandlerOpts{})
}

type indexResponse struct {
	Name    string            `json:"name"`
	Version string            `json:"version"`
	Links   map[string]string `json:"links"`
}

// index tells a client what this server is and where everything is.
func (a *api) index(w http.ResponseWriter, r *http.Request) error {
	links := map[string]string{
		"self":          "/api/",
		"openapi":       "/api/openapi.json",
		"test":          "/api/test",
		"health":        "/healthz",
		"ready":         "/readyz",
		"metrics":       "/metrics",
		"session":       "/api/session",
		"jobs":          "/api/jobs",
		"job":           "/api/jobs/{id}",
		"jobs_test":     "/api/jobs/test",
		"random_text":   "/api/jobs/random-text",
		"websocket":     "/api/ws?job_id={id}",
		"webhooks":      "/api/webhooks",
		"webhook_stats": "/api/webhooks/stats",
	}
	if a.RiverUI != nil {
		links["riverui"] = "/riverui/"
	}
	ok(w, indexResponse{Name: "bespin", Version: a.Version, Links: links})
	return nil
}

// test is the seed's smoke-test endpoint.
func (a *api) test(w http.ResponseWriter, r *http.Request) error {
	ok(w, map[string]string{"message": "Bespin API is working"})
	return nil
}
