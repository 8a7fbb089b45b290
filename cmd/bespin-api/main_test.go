package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bespin/bespin/internal/dbtest"
	"github.com/bespin/bespin/internal/openapitest"
	"github.com/bespin/bespin/internal/redistest"
)

// Every response the end-to-end tests receive through http.DefaultClient
// (http.Get and http.Post included) is checked against openapi.yaml.
func TestMain(m *testing.M) {
	http.DefaultClient.Transport = openapitest.Transport(nil)
	code := m.Run()
	removeBuiltBinary()
	os.Exit(code)
}

// testServer is a running `bespin-api serve`, started through run exactly
// as main starts it, on a free port.
type testServer struct {
	URL  string
	stop func() error // cancels run and returns its error
	logs *logTail
}

// startServer runs the server against a fresh database with env on top of
// a test-friendly base configuration.
func startServer(t *testing.T, env ...string) *testServer {
	t.Helper()
	_, prefix := redistest.New(t)
	base := []string{
		"DATABASE_URL=" + dbtest.URL(t),
		"REDIS_ADDR=" + redistest.Addr(),
		"REDIS_KEY_PREFIX=" + prefix,
		"PORT=0",
		"LOG_FORMAT=json",
		"LOG_LEVEL=debug",
		"SHUTDOWN_TIMEOUT=10s",
	}
	return startServerEnv(t, append(base, env...))
}

func startServerEnv(t *testing.T, environ []string) *testServer {
	t.Helper()
	cfg, err := loadConfig(environ)
	require.NoError(t, err)
	logs := &logTail{}
	a, err := newServer(context.Background(), cfg, newLogger(cfg, logs))
	require.NoError(t, err, "building the server; logs:\n%s", logs)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.run(ctx) }()
	var once sync.Once
	var runErr error
	srv := &testServer{logs: logs, stop: func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(30 * time.Second):
				t.Errorf("server did not stop within 30s")
			}
		})
		return runErr
	}}
	t.Cleanup(func() {
		if err := srv.stop(); err != nil {
			t.Errorf("server stopped with error: %v", err)
		}
	})

	select {
	case <-a.Ready():
		srv.URL = "http://127.0.0.1:" + strconv.Itoa(a.Addr().(*net.TCPAddr).Port)
	case err := <-done:
		done <- err // for the cleanup's stop, which would otherwise wait 30s for it
		t.Fatalf("server exited before listening: %v\nlogs:\n%s", err, logs)
	case <-time.After(60 * time.Second):
		t.Fatalf("server did not listen within 60s; logs:\n%s", logs)
	}
	return srv
}

// logTail collects the server's log lines.
type logTail struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *logTail) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logTail) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Contains reports whether any log line contains s.
func (l *logTail) Contains(s string) bool { return strings.Contains(l.String(), s) }

func getJSON(t *testing.T, url string, into any) *http.Response {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	if into != nil {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(into), "decoding %s", url)
	}
	return resp
}

// reply is an answer read whole.
type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) decode(t *testing.T, into any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(r.body, into), "%d %s", r.status, r.body)
}

func (r reply) errorCode(t *testing.T) string {
	t.Helper()
	var e errorResponse
	r.decode(t, &e)
	require.NotEmpty(t, e.Error.Message)
	return e.Error.Code
}

// call sends method to url with body (JSON when not empty) and header,
// through http.DefaultClient (so the answer is checked against
// openapi.yaml).
func call(t *testing.T, method, url, body string, header http.Header) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	for k, vs := range header {
		req.Header[k] = vs
	}
	if body != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

// bearer is the header of token.
func bearer(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}}
}

type errorResponse struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func TestServeEndToEnd(t *testing.T) {
	t.Parallel()
	srv := startServer(t)

	var ready map[string]string
	resp := getJSON(t, srv.URL+"/readyz", &ready)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, map[string]string{"status": "ok", "postgres": "ok", "redis": "ok"}, ready)

	resp = getJSON(t, srv.URL+"/healthz", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NotEmpty(t, resp.Header.Get("X-Request-Id"))

	var index struct {
		Name  string            `json:"name"`
		Links map[string]string `json:"links"`
	}
	resp = getJSON(t, srv.URL+"/api/", &index)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "bespin", index.Name)
	require.Equal(t, "/readyz", index.Links["ready"])

	var msg map[string]string
	resp = getJSON(t, srv.URL+"/api/test", &msg)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NotEmpty(t, msg["message"])

	var e errorResponse
	resp = getJSON(t, srv.URL+"/api/nope", &e)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Equal(t, "not_found", e.Error.Code)
	require.Contains(t, resp.Header.Get("Content-Type"), "application/json")

	postResp, err := http.Post(srv.URL+"/api/test", "application/json", nil)
	require.NoError(t, err)
	require.NoError(t, json.NewDecoder(postResp.Body).Decode(&e))
	postResp.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, postResp.StatusCode)
	require.Equal(t, "method_not_allowed", e.Error.Code)
	require.Contains(t, postResp.Header.Get("Allow"), "GET")

	// The request id a proxy sent comes back, and is in the request log.
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/test", nil)
	req.Header.Set("X-Request-Id", "trace-abc-123")
	idResp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	idResp.Body.Close()
	require.Equal(t, "trace-abc-123", idResp.Header.Get("X-Request-Id"))
	require.Eventually(t, func() bool { return srv.logs.Contains(`"request_id":"trace-abc-123"`) }, 5*time.Second, 20*time.Millisecond)

	require.NoError(t, srv.stop(), "a clean shutdown returns no error")
	require.True(t, srv.logs.Contains(`"msg":"stopped"`))
}

// The console answers GET requests outside the API; the API's own unknown
// paths and every other method stay JSON errors.
func TestConsoleBesideTheAPI(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	for _, p := range []string{"/", "/jobs/42", "/webhooks"} {
		resp, err := http.Get(srv.URL + p)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, p)
		require.Contains(t, resp.Header.Get("Content-Type"), "text/html", p)
		require.Contains(t, string(body), "Bespin", p)
	}
	// (/riverui/ is River UI's own: riverui_test.go.)
	for _, p := range []string{"/api/nothing", "/healthz/x", "/metrics/x"} {
		var e errorResponse
		resp := getJSON(t, srv.URL+p, &e)
		require.Equal(t, http.StatusNotFound, resp.StatusCode, p)
		require.Equal(t, "not_found", e.Error.Code, p)
	}
	resp, err := http.Post(srv.URL+"/jobs", "application/json", nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "the console only reads")
}

// Readiness follows Postgres without a restart: down → 503, back → 200.
func TestReadyzFollowsPostgres(t *testing.T) {
	t.Parallel()
	proxy, proxied := dbtest.NewProxy(t, dbtest.URL(t))
	srv := startServer(t, "DATABASE_URL="+proxied)

	status := func() int {
		resp, err := http.Get(srv.URL + "/readyz")
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusOK, status())

	proxy.Down()
	var ready map[string]string
	resp := getJSON(t, srv.URL+"/readyz", &ready)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.Equal(t, "unavailable", ready["postgres"])
	require.NotEmpty(t, resp.Header.Get("Retry-After"))

	proxy.Up()
	require.Eventually(t, func() bool { return status() == http.StatusOK }, 15*time.Second, 100*time.Millisecond)
}

// Redis only backs rate limits and idempotency: without it the server is
// degraded, not unready.
func TestReadyzRedisDown(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "REDIS_ADDR=127.0.0.1:1") // nothing listens on port 1
	var ready map[string]string
	resp := getJSON(t, srv.URL+"/readyz", &ready)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "degraded", ready["redis"])
	require.Equal(t, "ok", ready["postgres"])
}

func TestRunRefusesBadConfiguration(t *testing.T) {
	t.Parallel()
	var stderr strings.Builder
	err := run(context.Background(), []string{"bespin-api"}, []string{"PORT=http"}, io.Discard, &stderr)
	require.Error(t, err)
	require.Contains(t, err.Error(), "PORT")

	err = run(context.Background(), []string{"bespin-api", "frobnicate"}, nil, io.Discard, &stderr)
	require.ErrorIs(t, err, errUsage)
	require.Contains(t, stderr.String(), "usage:")
}

// The migrate command round-trips the schema of a real database.
func TestMigrateCommand(t *testing.T) {
	t.Parallel()
	env := []string{"DATABASE_URL=" + dbtest.URL(t)}
	var out strings.Builder
	require.NoError(t, run(context.Background(), []string{"bespin-api", "migrate", "version"}, env, &out, io.Discard))
	require.Regexp(t, `schema version (\d+) of (\d+) \(dirty: false\)`, out.String())
	latest := strings.Fields(out.String())[2]

	out.Reset()
	require.NoError(t, run(context.Background(), []string{"bespin-api", "migrate", "down", "all"}, env, &out, io.Discard))
	require.Contains(t, out.String(), "schema version 0 of "+latest)

	// serve with AUTO_MIGRATE=false refuses the stale schema.
	err := run(context.Background(), []string{"bespin-api", "serve"}, append(env, "AUTO_MIGRATE=false", "LOG_LEVEL=error"), io.Discard, io.Discard)
	require.ErrorContains(t, err, "older than this binary needs")

	out.Reset()
	require.NoError(t, run(context.Background(), []string{"bespin-api", "migrate", "up"}, env, &out, io.Discard))
	require.Contains(t, out.String(), "schema version "+latest+" of "+latest)

	err = run(context.Background(), []string{"bespin-api", "migrate", "down", "zero"}, env, io.Discard, io.Discard)
	require.ErrorIs(t, err, errUsage)
}
