package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Tests that signal or kill a real process share one build of the binary.
var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// removeBuiltBinary removes the shared build (TestMain, main_test.go).
func removeBuiltBinary() {
	if builtBin != "" {
		os.RemoveAll(filepath.Dir(builtBin))
	}
}

// buildBinary builds bespin-api once per test run and returns its path.
func buildBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "bespin-api-test-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "bespin-api")
		out, err := exec.Command("go", "build", "-o", builtBin, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	require.NoError(t, buildErr, "building bespin-api")
	return builtBin
}

// freePort is a local port free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// process is a running bespin-api binary.
type process struct {
	cmd    *exec.Cmd
	logs   *logTail
	exited chan error // receives Wait's result once
}

// startProcess runs bin with args and env (on top of the test's own
// environment) and, when readyURL is not empty, waits until it answers 200.
func startProcess(t *testing.T, bin string, env []string, readyURL string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	p := &process{cmd: cmd, logs: &logTail{}, exited: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	require.NoError(t, cmd.Start())
	go func() { p.exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	if readyURL == "" {
		return p
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(readyURL)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case err := <-p.exited:
			t.Fatalf("bespin-api %s exited before it was ready (%v); logs:\n%s", strings.Join(args, " "), err, p.logs)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("bespin-api %s not ready within 60s; logs:\n%s", strings.Join(args, " "), p.logs)
		}
	}
}
