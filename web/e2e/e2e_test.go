//go:build e2e

// Package e2e runs the console's browser tests: Playwright driving Debian's
// chromium against a real `bespin-api serve` (built from cmd/bespin-api) on
// a fresh database (internal/dbtest) with the real Redis.
//
// Until the lead mounts web.Handler in the server, the harness serves the
// console itself: one test server with web.Handler at "/" (the very handler
// the binary will use, with the build embedded) and a reverse proxy to
// bespin-api for /api/ (WebSockets included), /readyz, /healthz, /metrics
// and /riverui/.
//
//	make web-browser (builds the console, installs chromium when missing)
//	go test -tags e2e -count=1 ./web/e2e
//
// Screenshots and measurements go to $E2E_OUTPUT (default
// web/test-results/e2e, git-ignored; the run prints it).
package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/bespin/bespin/internal/dbtest"
	"github.com/bespin/bespin/web"
)

func TestConsoleInBrowser(t *testing.T) {
	if !web.Built() {
		t.Fatal("the console is not built into this test binary: run `make web` (or `make web-browser`) first")
	}
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("no chromium at %s: run scripts/chromium.sh (apt-get install -y chromium)", chromium)
	}
	webDir, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Dir(webDir)
	if _, err := os.Stat(filepath.Join(webDir, "node_modules", ".bin", "playwright")); err != nil {
		t.Fatal("Playwright is not installed: run `npm ci` in web/ (make web does)")
	}

	bin := buildServer(t, root)
	apiURL := startServer(t, bin, dbtest.URL(t))
	console := consoleServer(t, apiURL)

	out := os.Getenv("E2E_OUTPUT")
	if out == "" {
		out = filepath.Join(webDir, "test-results", "e2e") // git-ignored
	}
	if out, err = filepath.Abs(out); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots and measurements: %s", out)

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(webDir, "node_modules", ".bin", "playwright"), "test")
	cmd.Dir = webDir
	cmd.Env = append(os.Environ(),
		"BESPIN_E2E_URL="+console,
		"BESPIN_API_URL="+apiURL,
		"E2E_OUTPUT="+out,
		"CHROMIUM="+chromium,
	)
	output, err := cmd.CombinedOutput()
	fmt.Printf("%s\n", output) // the figures and the screenshot folder, also on success
	if err != nil {
		t.Fatalf("playwright: %v (output above)", err)
	}
	fmt.Printf("e2e: screenshots and measurements in %s\n", out)
}

// buildServer builds cmd/bespin-api into a temporary folder.
func buildServer(t *testing.T, root string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "bespin-api")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/bespin-api")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/bespin-api: %v\n%s", err, out)
	}
	return bin
}

// startServer runs `bespin-api serve` on a free port in development mode
// (no API_TOKEN; the test source's secret is test-secret) and waits for
// /readyz.
func startServer(t *testing.T, bin, dbURL string) string {
	t.Helper()
	port := freePort(t)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(),
		"DATABASE_URL="+dbURL,
		"PORT="+strconv.Itoa(port),
		"REDIS_ADDR="+envOr("REDIS_ADDR", "127.0.0.1:6379"),
		"REDIS_KEY_PREFIX=bespin-e2e:"+hex.EncodeToString(b)+":",
		"BESPIN_ENV=development",
		"API_TOKEN=",
		"TEST_WEBHOOK_SECRET=test-secret",
		"RATE_LIMIT_JOBS_PER_MINUTE=0",
		"RATE_LIMIT_WEBHOOKS_PER_MINUTE=0",
		"LOG_LEVEL=warn",
		"SHUTDOWN_TIMEOUT=5s",
	)
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("bespin-api log:\n%s", logs.String())
		}
	})
	u := "http://127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("bespin-api exited: %v\n%s", err, logs.String())
		default:
		}
		if resp, err := http.Get(u + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return u
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("bespin-api not ready within 60 s\n%s", logs.String())
	return ""
}

// consoleServer serves the embedded console and proxies the API to apiURL.
func consoleServer(t *testing.T, apiURL string) string {
	t.Helper()
	target, _ := url.Parse(apiURL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	mux := http.NewServeMux()
	for _, p := range []string{"/api/", "/riverui/", "/readyz", "/healthz", "/metrics"} {
		mux.Handle(p, proxy)
	}
	mux.Handle("/", web.Handler()) // the handler the server will mount (it refuses non-GET itself)
	// A page holding the flood cookie gets its jobs stream from floodJobs.
	mux.HandleFunc("/api/ws", func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie("bespin_e2e_flood"); err == nil && r.URL.Query().Get("topic") == "jobs" {
			floodJobs(t, w, r, apiURL, c.Value)
			return
		}
		proxy.ServeHTTP(w, r)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// floodJobs plays the jobs stream at a given rate ("<per second>:<seconds>"
// in the cookie), through a real WebSocket, so the browser's own network
// stack and the page's code handle every frame: the real server cannot
// produce 1,000 job changes per second on this machine. Four messages in
// five update jobs the list shows (read from the API); one in five is a new
// job. It starts a second after the upgrade, then holds the connection.
func floodJobs(t *testing.T, w http.ResponseWriter, r *http.Request, apiURL, spec string) {
	rateS, secondsS, _ := strings.Cut(spec, ":")
	rate, _ := strconv.Atoi(rateS)
	seconds, _ := strconv.Atoi(secondsS)
	if rate <= 0 || seconds <= 0 || rate*seconds > 100_000 {
		http.Error(w, "bad flood spec", http.StatusBadRequest)
		return
	}
	var list struct {
		Jobs []struct {
			JobID string `json:"job_id"`
		} `json:"jobs"`
	}
	resp, err := http.Get(apiURL + "/api/jobs?limit=50")
	if err == nil {
		err = json.NewDecoder(resp.Body).Decode(&list)
		resp.Body.Close()
	}
	if err != nil || len(list.Jobs) == 0 {
		http.Error(w, "flood: no jobs to update", http.StatusInternalServerError)
		return
	}
	ids := make([]int64, 0, len(list.Jobs))
	top := int64(0)
	for _, j := range list.Jobs {
		id, _ := strconv.ParseInt(j.JobID, 10, 64)
		ids = append(ids, id)
		top = max(top, id)
	}
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	go func() { // reads until the page goes away
		defer ws.Close()
		for {
			if _, _, err := ws.NextReader(); err != nil {
				return
			}
		}
	}()
	go func() {
		time.Sleep(time.Second)
		statuses := []struct{ status, state string }{{"running", "running"}, {"completed", "completed"}, {"failed", "discarded"}, {"pending", "retryable"}}
		total := rate * seconds
		start := time.Now()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for sent := 0; sent < total; {
			<-tick.C
			due := min(total, int(time.Since(start).Seconds()*float64(rate)))
			for ; sent < due; sent++ {
				id := ids[sent%len(ids)]
				if sent%5 == 4 {
					id = top + 1 + int64(sent)
				}
				st := statuses[sent%len(statuses)]
				var errText any
				if st.status == "failed" {
					errText = "flood: failed"
				}
				msg, _ := json.Marshal(map[string]any{
					"type": "job_status", "job_id": strconv.FormatInt(id, 10), "kind": "random-text",
					"status": st.status, "state": st.state, "attempt": 1 + sent%3, "result": nil, "error": errText,
					"updated_at": start.Add(time.Duration(sent) * time.Millisecond).UTC().Format(time.RFC3339Nano),
				})
				if err := ws.WriteMessage(websocket.TextMessage, msg); err != nil {
					return
				}
			}
		}
		t.Logf("flood: %d messages in %s", total, time.Since(start).Round(time.Millisecond))
	}()
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
