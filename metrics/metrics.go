// Package metrics defines every Prometheus metric Bespin exports, in one
// place, on a registry of its own (no global state), so each package
// increments what it owns and /metrics shows all of it.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics is the set of collectors. Construct it with New; a nil *Metrics
// is never passed around.
type Metrics struct {
	Registry *prometheus.Registry

	HTTPRequests        *prometheus.CounterVec   // route, method, status
	HTTPRequestDuration *prometheus.HistogramVec // route, method

	RateLimitFailOpen *prometheus.CounterVec // scope
	RateLimited       *prometheus.CounterVec // scope
	RedisUp           prometheus.Gauge

	WebhooksReceived *prometheus.CounterVec // source, outcome
	WebhookBatchSize prometheus.Histogram

	WebSocketConnections prometheus.Gauge
	ListenerReconnects   prometheus.Counter
	NotificationLag      prometheus.Histogram
}

// New registers every collector, plus the Go runtime and process
// collectors, on a fresh registry.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		HTTPRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bespin_http_requests_total",
			Help: "HTTP requests by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		HTTPRequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "bespin_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern and method.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method"}),
		RateLimitFailOpen: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bespin_ratelimit_fail_open_total",
			Help: "Requests let through unlimited because Redis could not be asked.",
		}, []string{"scope"}),
		RateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bespin_ratelimit_rejected_total",
			Help: "Requests refused with 429 by the rate limiter.",
		}, []string{"scope"}),
		RedisUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bespin_redis_up",
			Help: "1 while Redis answers, 0 while it is skipped as unavailable (rate limits fail open, idempotency relies on Postgres).",
		}),
		WebhooksReceived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bespin_webhooks_received_total",
			Help: "Webhook deliveries by source and outcome (stored, duplicate, unauthorized, invalid, ...).",
		}, []string{"source", "outcome"}),
		WebhookBatchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "bespin_webhook_batch_size",
			Help:    "Webhook deliveries committed together in one transaction (group commit).",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 100},
		}),
		WebSocketConnections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bespin_websocket_connections",
			Help: "Open WebSocket connections.",
		}),
		ListenerReconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bespin_listener_reconnects_total",
			Help: "Times the Postgres LISTEN connection was re-established.",
		}),
		NotificationLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "bespin_notification_lag_seconds",
			Help:    "Time from a job state change in Postgres to its notification reaching this process.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
	}
	m.Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.HTTPRequests, m.HTTPRequestDuration,
		m.RateLimitFailOpen, m.RateLimited, m.RedisUp,
		m.WebhooksReceived, m.WebhookBatchSize,
		m.WebSocketConnections, m.ListenerReconnects, m.NotificationLag,
	)
	return m
}
