package redistest

import (
	"context"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Private is a redis-server of the test's own, on a free port, that the
// test can kill (as a crash looks to clients) and start again on the same
// address: for tests of Redis outages, which must never stop the shared
// Redis. It is killed when the test ends.
type Private struct {
	t    testing.TB
	addr string

	mu  sync.Mutex
	cmd *exec.Cmd
}

// StartPrivate starts a private redis-server (no persistence) and waits
// until it answers. The test fails when redis-server is not installed.
func StartPrivate(t testing.TB) *Private {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: free port: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := &Private{t: t, addr: addr}
	p.Start()
	t.Cleanup(p.Kill)
	return p
}

// Addr is the server's host:port, the same across restarts.
func (p *Private) Addr() string { return p.addr }

// Start starts the server (again) and waits until it answers.
func (p *Private) Start() {
	p.t.Helper()
	_, port, _ := net.SplitHostPort(p.addr)
	cmd := exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning")
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("redistest: start redis-server (install redis-server, e.g. `apt-get install redis-server`): %v", err)
	}
	p.mu.Lock()
	p.cmd = cmd
	p.mu.Unlock()

	rdb := redis.NewClient(&redis.Options{Addr: p.addr, MaxRetries: -1})
	defer rdb.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := rdb.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("redistest: private redis-server on port %s did not answer within 30s: %v", strconv.Quote(port), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill stops the server with SIGKILL and waits for it to exit; every
// client connection breaks. Killing a stopped server does nothing.
func (p *Private) Kill() {
	p.mu.Lock()
	cmd := p.cmd
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
}
