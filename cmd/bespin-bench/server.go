package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// benchDB is a fresh database on the bench server, dropped by drop.
type benchDB struct {
	name, url string
	pool      *pgxpool.Pool
	admin     string
}

func createDB(ctx context.Context, o options, purpose string) (*benchDB, error) {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "bespin_bench_" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, strings.ToLower(purpose)) + "_" + hex.EncodeToString(b)
	conn, err := pgx.Connect(ctx, o.adminURL)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w (start Postgres or set -database-url)", redact(o.adminURL), err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return nil, err
	}
	u, _ := url.Parse(o.adminURL)
	u.Path = "/" + name
	d := &benchDB{name: name, url: u.String(), admin: o.adminURL}
	pc, err := pgxpool.ParseConfig(d.url)
	if err != nil {
		return nil, err
	}
	// The webhooks baseline inserts on -concurrency connections at once;
	// the River baselines need a few. Postgres' max_connections is often 100.
	pc.MaxConns = int32(min(o.concurrency+10, 80))
	d.pool, err = pgxpool.NewWithConfig(ctx, pc)
	return d, err
}

func (d *benchDB) drop(keep bool) {
	d.pool.Close()
	if keep {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if conn, err := pgx.Connect(ctx, d.admin); err == nil {
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+d.name+" WITH (FORCE)")
		conn.Close(ctx)
	}
}

// startBespin creates a fresh database and serves bespin-api on it with env;
// cleanup stops the server and drops the database.
func startBespin(ctx context.Context, o options, purpose string, env ...string) (*benchDB, *server, func(), error) {
	d, err := createDB(ctx, o, purpose)
	if err != nil {
		return nil, nil, nil, err
	}
	srv, err := startServer(ctx, o, d.url, "serve", env...)
	if err != nil {
		d.drop(o.keep)
		return nil, nil, nil, err
	}
	return d, srv, func() { _ = srv.stop(); d.drop(o.keep) }, nil
}

// server is a running bespin-api process.
type server struct {
	cmd   *exec.Cmd
	url   string
	pprof string // base URL of its pprof listener, with -profile-dir
	done  chan error
	logs  *strings.Builder

	stopOnce sync.Once
	stopErr  error
}

// startServer runs `bespin-api <command>` with env on a free port and waits
// until /readyz answers 200 (serve) or the log says the worker started.
func startServer(ctx context.Context, o options, dbURL, command string, env ...string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	cmd := exec.Command(o.bin, command)
	cmd.Env = append(os.Environ(),
		"DATABASE_URL="+dbURL,
		"REDIS_ADDR="+o.redisAddr,
		"REDIS_KEY_PREFIX=bespinbench:"+hex.EncodeToString(b)+":",
		"PORT="+strconv.Itoa(port),
		"LOG_LEVEL=warn",
		"LOG_FORMAT=json",
		"BESPIN_ENV=development",
		"RATE_LIMIT_JOBS_PER_MINUTE=0",
		"RATE_LIMIT_WEBHOOKS_PER_MINUTE=0",
		"WS_MAX_CONNECTIONS_PER_IP=0", // fanout: every watcher comes from this address
		"JOB_WORKERS="+strconv.Itoa(o.jobWorkers),
		"JOB_FETCH_COOLDOWN="+o.cooldown.String(),
		"DB_MAX_CONNS="+strconv.Itoa(o.dbMaxConns),
		"TEST_WEBHOOK_SECRET="+benchSecret,
	)
	var pprofURL string
	if o.profileDir != "" {
		pport, err := freePort()
		if err != nil {
			return nil, err
		}
		addr := "127.0.0.1:" + strconv.Itoa(pport)
		cmd.Env = append(cmd.Env, "PPROF_ADDR="+addr)
		pprofURL = "http://" + addr
	}
	cmd.Env = append(cmd.Env, env...)
	logs := &strings.Builder{}
	stderr, _ := cmd.StderrPipe()
	cmd.Stdout = logs
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, url: "http://127.0.0.1:" + strconv.Itoa(port), pprof: pprofURL, done: make(chan error, 1), logs: logs}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logs.WriteString(sc.Text() + "\n")
		}
		s.done <- cmd.Wait()
	}()
	if command == "worker" {
		return s, nil
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-s.done:
			return nil, fmt.Errorf("bespin-api exited: %v\n%s", err, logs.String())
		default:
		}
		resp, err := http.Get(s.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.stop()
	return nil, fmt.Errorf("bespin-api did not become ready within 60s\n%s", logs.String())
}

// stop sends SIGTERM and waits for a clean exit; later calls return the
// first call's answer.
func (s *server) stop() error {
	s.stopOnce.Do(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case s.stopErr = <-s.done:
		case <-time.After(45 * time.Second):
			_ = s.cmd.Process.Kill()
			s.stopErr = fmt.Errorf("bespin-api did not stop within 45s")
		}
	})
	return s.stopErr
}

// pid is the server's process id.
func (s *server) pid() int { return s.cmd.Process.Pid }

// profile saves a CPU profile of the next d to dir/name.pprof (when
// profiling is on) and returns when it is written.
func (s *server) profile(o options, name string, d time.Duration) error {
	if s.pprof == "" {
		return nil
	}
	client := &http.Client{Timeout: d + 30*time.Second}
	resp, err := client.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", s.pprof, int(d.Round(time.Second)/time.Second)))
	if err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("cpu profile: %s", resp.Status)
	}
	f, err := os.Create(filepath.Join(o.profileDir, name+".pprof"))
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// rss is the server's resident memory in bytes, from /proc.
func (s *server) rss() (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return parseVmRSS(f)
}

func parseVmRSS(r io.Reader) (int64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			fields := strings.Fields(rest)
			kb, err := strconv.ParseInt(fields[0], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS")
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(bad URL)"
	}
	return p.Redacted()
}
