package httpapi

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/bespin/bespin/internal/redisbreaker"
	"github.com/bespin/bespin/ratelimit"
)

type ctxKey int

const requestIDKey ctxKey = iota

func requestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// requestID takes a sane incoming X-Request-Id (from a proxy) or makes one,
// and echoes it on the response.
func (a *api) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			var b [8]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey, id)))
	})
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if !(c == '-' || c == '_' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// recoverPanics turns a panicking handler into a logged 500.
func (a *api) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				a.Logger.ErrorContext(r.Context(), "panic in handler",
					slog.String("request_id", requestIDFrom(r.Context())),
					slog.String("panic", fmt.Sprint(v)), slog.String("stack", string(debug.Stack())))
				a.writeError(w, r, fmt.Errorf("panic: %v", v))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// statusRecorder remembers the status for logs and metrics. It forwards
// Hijack and Flush through Unwrap (http.ResponseController).
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += n
	return n, err
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// observe logs every request and records it in the HTTP metrics, labelled
// by the matched route pattern (never the raw path, which would explode
// label cardinality).
func (a *api) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		elapsed := time.Since(start)
		if rec.status == 0 {
			rec.status = http.StatusOK // hijacked (WebSocket) or wrote nothing
		}
		route := r.Pattern // set in place by ServeMux
		if route == "" {
			route = "unmatched"
		}
		a.Metrics.HTTPRequests.WithLabelValues(route, r.Method, strconv.Itoa(rec.status)).Inc()
		a.Metrics.HTTPRequestDuration.WithLabelValues(route, r.Method).Observe(elapsed.Seconds())
		level := slog.LevelInfo
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" || r.URL.Path == "/metrics" {
			level = slog.LevelDebug
		}
		a.Logger.Log(r.Context(), level, "http request",
			slog.String("request_id", requestIDFrom(r.Context())),
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.String("route", route),
			slog.Int("status", rec.status),
			slog.Int("bytes", rec.bytes),
			slog.Duration("duration", elapsed),
			slog.String("client", a.clientIP(r).String()),
		)
	})
}

// tokenValid compares token against every configured token in constant
// time: the one token check, for headers and query parameters alike.
func (a *api) tokenValid(token string) bool {
	token = strings.TrimSpace(token)
	if token == "" {
		return false
	}
	match := 0
	for _, t := range a.APITokens {
		match |= subtle.ConstantTimeCompare([]byte(token), []byte(t))
	}
	return match == 1
}

// clientIP is the peer address, or the right-most untrusted address of
// X-Forwarded-For when the peer is a trusted proxy.
func (a *api) clientIP(r *http.Request) netip.Addr {
	addr := peerAddr(r)
	if !a.trusted(addr) {
		return addr
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return addr
		}
		hop = hop.Unmap()
		if !a.trusted(hop) {
			return hop
		}
		addr = hop
	}
	return addr
}

// peerAddr is the address of the connection's other end.
func peerAddr(r *http.Request) netip.Addr {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return peer.Addr().Unmap()
}

// viaHTTPS reports whether the client's request came over HTTPS: to this
// server directly, or to a trusted proxy that says so in
// X-Forwarded-Proto (its own, right-most, value).
func (a *api) viaHTTPS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	if !a.trusted(peerAddr(r)) {
		return false
	}
	protos := strings.Split(strings.Join(r.Header.Values("X-Forwarded-Proto"), ","), ",")
	return strings.EqualFold(strings.TrimSpace(protos[len(protos)-1]), "https")
}

func (a *api) trusted(addr netip.Addr) bool {
	for _, p := range a.TrustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// rateLimit answers 429 once the client IP exceeds limit within scope. When
// Redis cannot be asked it lets the request through (failing closed would
// turn a cache outage into a full outage), logs it and counts it.
func (a *api) rateLimit(scope string, limit ratelimit.Limit, next http.Handler) http.Handler {
	return a.rateLimitBy(scope, limit, func(r *http.Request) string { return a.clientIP(r).String() }, nil, next)
}

// rateLimitBy is rateLimit with the budget's key (within scope) computed
// per request, and an optional hook called for each refused request.
func (a *api) rateLimitBy(scope string, limit ratelimit.Limit, key func(*http.Request) string, onLimited func(*http.Request), next http.Handler) http.Handler {
	if !limit.Enabled() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), rateLimitTimeout)
		res, err := a.Limiter.Allow(ctx, scope+":"+key(r), limit)
		cancel()
		if err != nil {
			a.Metrics.RateLimitFailOpen.WithLabelValues(scope).Inc()
			a.Logger.Log(r.Context(), redisbreaker.LogLevel(err), "rate limiter unavailable; letting the request through",
				slog.String("scope", scope), slog.String("error", err.Error()))
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Set("RateLimit-Limit", strconv.Itoa(res.Limit))
		h.Set("RateLimit-Remaining", strconv.Itoa(res.Remaining))
		h.Set("RateLimit-Reset", strconv.Itoa(ceilSeconds(res.ResetAfter)))
		if !res.Allowed {
			a.Metrics.RateLimited.WithLabelValues(scope).Inc()
			if onLimited != nil {
				onLimited(r)
			}
			wait := max(ceilSeconds(res.RetryAfter), 1)
			h.Set("Retry-After", retryAfterSeconds(wait))
			a.writeError(w, r, errorf(http.StatusTooManyRequests, "rate_limited",
				"Too many requests from this address; retry after %s.", plural(wait, "second")))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// plural is "1 second", "2 seconds".
func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}

func ceilSeconds(d time.Duration) int {
	return int((d + time.Second - 1) / time.Second)
}

const (
	rateLimitTimeout = 250 * time.Millisecond
	pingTimeout      = 2 * time.Second
)
