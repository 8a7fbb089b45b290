//go:build e2e

// Package e2e runs the console's browser tests: Playwright driving Debian's
// chromium against real `bespin-api serve` processes (built from
// cmd/bespin-api, the console embedded) on fresh databases
// (internal/dbtest) with the real Redis. The browser talks to each server
// directly: the server itself serves the console at /, beside the API and
// River UI.
//
//	make web-browser (builds the console, installs chromium when missing)
//	go test -tags e2e -count=1 ./web/e2e
//
// Three origins, one Playwright project each (playwright.config.ts):
//
//   - production: BESPIN_ENV=production with API_TOKEN and ALLOWED_ORIGINS,
//     so signing in, sessions, job privacy (watch tokens), River UI's
//     sign-in redirect and the sign-in rate limit are the real ones.
//   - development: no API_TOKEN, everything open, as `make dev` runs. Its
//     Postgres is reached through a TCP proxy (dbtest.NewProxy) and the
//     harness can stop and start the server, so the tests see the
//     "database unavailable" and "connection lost" banners against the
//     real server (control, below).
//   - vite: `vite` (npm run dev, the seed's flow) serving the console
//     from source and proxying the API to the development server.
//
// The 1,000-updates/s measurement needs a jobs stream faster than this
// machine's server can make one: floodJobs plays one over a real
// WebSocket from its own port, and the flood test points only the page's
// jobs-stream WebSocket at it (an init script rewrites that one URL);
// everything else the page loads comes from the server.
//
// Screenshots and measurements go to $E2E_OUTPUT (default
// web/test-results/e2e, git-ignored); the run prints the folder.
// E2E_GREP runs only the tests whose title matches it.
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
	chromium := envOr("CHROMIUM", "/usr/bin/chromium")
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("no chromium at %s: run scripts/chromium.sh (apt-get install -y chromium)", chromium)
	}
	webDir, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Dir(webDir)
	bin := filepath.Join(webDir, "node_modules", ".bin")
	if _, err := os.Stat(filepath.Join(bin, "playwright")); err != nil {
		t.Fatal("Playwright is not installed: run `npm ci` in web/ (make web does)")
	}

	out := envOr("E2E_OUTPUT", filepath.Join(webDir, "test-results", "e2e")) // git-ignored
	if out, err = filepath.Abs(out); err != nil {
		t.Fatal(err)
	}
	// Screenshots of this run only.
	if err := os.RemoveAll(filepath.Join(out, "screenshots")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots and measurements: %s", out)

	server := buildServer(t, root)
	token := randomHex(16)
	prodPort := freePort(t)
	prodURL := "http://127.0.0.1:" + strconv.Itoa(prodPort)
	prod := newServer(t, server, prodPort, dbtest.URL(t),
		"BESPIN_ENV=production",
		"API_TOKEN="+token,
		"ALLOWED_ORIGINS="+prodURL,
		"TEST_WEBHOOK_SECRET=test-secret",
		// Rate limits, the sign-in one included, keep their defaults.
	)
	proxy, proxied := dbtest.NewProxy(t, dbtest.URL(t))
	dev := newServer(t, server, freePort(t), proxied,
		"BESPIN_ENV=development",
		"API_TOKEN=",
		"TEST_WEBHOOK_SECRET=test-secret",
		"RATE_LIMIT_JOBS_PER_MINUTE=0",
		"RATE_LIMIT_WEBHOOKS_PER_MINUTE=0",
	)
	prod.start(t)
	dev.start(t)
	flood := floodServer(t, dev.url)
	ctl := controlServer(t, dev, proxy)
	vite := startVite(t, webDir, dev.url)

	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	args := []string{"test"}
	if g := os.Getenv("E2E_GREP"); g != "" {
		args = append(args, "--grep", g) // only the tests whose title matches
	}
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "playwright"), args...)
	cmd.Dir = webDir
	cmd.Env = append(os.Environ(),
		"BESPIN_E2E_PROD_URL="+prod.url,
		"BESPIN_E2E_TOKEN="+token,
		"BESPIN_E2E_DEV_URL="+dev.url,
		"BESPIN_E2E_VITE_URL="+vite,
		"BESPIN_E2E_FLOOD_URL="+flood,
		"BESPIN_E2E_CONTROL_URL="+ctl,
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

// buildServer builds cmd/bespin-api (with the console this package
// embeds) into a temporary folder.
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

// server is one `bespin-api serve` on a fixed port, which the harness can
// stop and start again (same port, same database).
type server struct {
	bin  string
	env  []string
	url  string
	logs *lockedBuffer

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan error
}

func newServer(t *testing.T, bin string, port int, dbURL string, env ...string) *server {
	t.Helper()
	s := &server{
		bin: bin,
		url: "http://127.0.0.1:" + strconv.Itoa(port),
		env: append([]string{
			"DATABASE_URL=" + dbURL,
			"PORT=" + strconv.Itoa(port),
			"REDIS_ADDR=" + envOr("REDIS_ADDR", "127.0.0.1:6379"),
			"REDIS_KEY_PREFIX=bespin-e2e:" + randomHex(4) + ":",
			"LOG_LEVEL=warn",
			"LOG_FORMAT=text",
			"SHUTDOWN_TIMEOUT=5s",
		}, env...),
		logs: &lockedBuffer{},
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("%s: %v", s.url, err)
		}
		if t.Failed() {
			t.Logf("bespin-api at %s, log:\n%s", s.url, s.logs.String())
		}
	})
	return s
}

func (s *server) start(t *testing.T) {
	t.Helper()
	if err := s.run(); err != nil {
		t.Fatal(err)
	}
}

// run starts the server and waits until /readyz answers 200.
func (s *server) run() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return fmt.Errorf("%s is running already", s.url)
	}
	cmd := exec.Command(s.bin, "serve")
	cmd.Env = append(os.Environ(), s.env...)
	cmd.Stdout, cmd.Stderr = s.logs, s.logs
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	s.cmd, s.done = cmd, done
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			s.cmd = nil
			return fmt.Errorf("bespin-api exited before it was ready: %v\n%s", err, s.logs.String())
		default:
		}
		if resp, err := http.Get(s.url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("bespin-api at %s not ready within 60 s\n%s", s.url, s.logs.String())
}

// stop sends SIGTERM and waits for the process to end (SHUTDOWN_TIMEOUT
// is 5 s; after 15 s it is killed).
func (s *server) stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	var err error
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
		err = fmt.Errorf("bespin-api did not stop within 15 s of SIGTERM")
	}
	s.cmd = nil
	return err
}

// controlServer lets the browser tests take the development server's
// database away and bring it back (POST /database/down, /database/up),
// and stop and start the server itself (POST /server/stop,
// /server/start); each answers 204 once done.
func controlServer(t *testing.T, dev *server, proxy *dbtest.Proxy) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /database/down", func(w http.ResponseWriter, r *http.Request) {
		proxy.Down()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /database/up", func(w http.ResponseWriter, r *http.Request) {
		proxy.Up()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /server/stop", func(w http.ResponseWriter, r *http.Request) {
		if err := dev.stop(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /server/start", func(w http.ResponseWriter, r *http.Request) {
		if err := dev.run(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// startVite runs the console's development server (`npm run dev`, that is
// vite) on a free port, proxying the API to apiURL, and waits until it
// serves the console.
func startVite(t *testing.T, webDir, apiURL string) string {
	t.Helper()
	port := freePort(t)
	cmd := exec.Command(filepath.Join(webDir, "node_modules", ".bin", "vite"), "--host", "127.0.0.1", "--port", strconv.Itoa(port), "--strictPort")
	cmd.Dir = webDir
	cmd.Env = append(os.Environ(), "BESPIN_API_URL="+apiURL)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // vite's children go with it
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("vite log:\n%s", logs.String())
		}
	})
	u := "http://127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("vite exited: %v\n%s", err, logs.String())
		default:
		}
		if resp, err := http.Get(u + "/"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return u
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("vite not serving within 60 s\n%s", logs.String())
	return ""
}

// floodServer serves floodJobs at /flood?rate=<per second>&seconds=<n>.
func floodServer(t *testing.T, apiURL string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		floodJobs(t, w, r, apiURL)
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/flood"
}

// floodJobs plays a jobs stream (the messages of /api/ws?topic=jobs) at a
// given rate over a real WebSocket, so the browser's own network stack and
// the page's code handle every frame: the real server cannot produce
// 1,000 job changes per second on this machine. Four messages in five
// update jobs the list shows (read from the development server's API);
// one in five is a new job. It starts a second after the upgrade, then
// holds the connection.
func floodJobs(t *testing.T, w http.ResponseWriter, r *http.Request, apiURL string) {
	rate, _ := strconv.Atoi(r.URL.Query().Get("rate"))
	seconds, _ := strconv.Atoi(r.URL.Query().Get("seconds"))
	if rate <= 0 || seconds <= 0 || rate*seconds > 100_000 {
		http.Error(w, "bad flood parameters", http.StatusBadRequest)
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

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
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
