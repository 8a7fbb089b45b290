// Package scripts holds the shell scripts behind `make dev` and `make
// test`; its tests run them as a user would.
package scripts

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/bespin/bespin/internal/dbtest"
	"github.com/bespin/bespin/internal/redistest"
)

// runServices runs a copy of services.sh in a scratch checkout (so any
// .data/ it makes is the test's own) with env, Docker left out.
func runServices(t *testing.T, env ...string) (root string, out string, err error) {
	t.Helper()
	root, err = os.MkdirTemp("", "services-test-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(root) })
	// The postgres user a root run switches to must reach .data/.
	require.NoError(t, os.Chmod(root, 0o755))
	require.NoError(t, os.Mkdir(filepath.Join(root, "scripts"), 0o755))
	script, err := os.ReadFile("services.sh")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(root, "scripts", "services.sh"), script, 0o755))

	cmd := exec.Command("bash", filepath.Join(root, "scripts", "services.sh"))
	cmd.Env = append(os.Environ(), "SERVICES_DOCKER=never", "REDIS_ADDR="+redistest.Addr())
	for _, k := range []string{"DATABASE_URL", "DB_HOST", "DB_PORT", "DB_USER", "DB_PASSWORD", "DB_NAME"} {
		cmd.Env = append(cmd.Env, k+"=") // the test's own environment does not count
	}
	cmd.Env = append(cmd.Env, env...)
	b, err := cmd.CombinedOutput()
	return root, string(b), err
}

func randomName(prefix string) string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func databaseExists(t *testing.T, adminURL, name string) bool {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, adminURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var ok bool
	require.NoError(t, conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&ok))
	return ok
}

func dropDatabase(t *testing.T, adminURL, name string) {
	t.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, adminURL)
		if err != nil {
			t.Errorf("drop %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %q WITH (FORCE)", name)); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})
}

// With DATABASE_URL set, the script creates the database named there, as
// the server would connect to it, and ignores DB_NAME (issue 14, point 8).
func TestServicesCreatesTheDatabaseOfDatabaseURL(t *testing.T) {
	t.Parallel()
	admin := dbtest.AdminURL(t)
	want, decoy := randomName("bespin_svc_")+"-dash", randomName("bespin_svc_decoy_")
	dropDatabase(t, admin, want)
	dropDatabase(t, admin, decoy)
	parsed, err := url.Parse(admin)
	require.NoError(t, err)
	parsed.Path, parsed.RawPath = "/"+want, "/"+strings.ReplaceAll(want, "-", "%2D") // percent-decoded as pgx does
	u := parsed.String()
	require.Contains(t, u, "%2D")

	_, out, err := runServices(t, "DATABASE_URL="+u, "DB_NAME="+decoy)
	require.NoError(t, err, out)
	require.Contains(t, out, "creating database "+want)
	require.True(t, databaseExists(t, admin, want))
	require.False(t, databaseExists(t, admin, decoy), "DB_NAME does not count when DATABASE_URL is set")

	_, out, err = runServices(t, "DATABASE_URL="+u)
	require.NoError(t, err, out)
	require.NotContains(t, out, "creating database", "an existing database is left alone")
}

// A DATABASE_URL on a local port where nothing answers gets a private
// Postgres on that port, with the database in it.
func TestServicesStartsPostgresOnTheURLPort(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	name := randomName("bespin_svc_")
	u := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", port, name)

	root, out, err := runServices(t, "DATABASE_URL="+u)
	t.Cleanup(func() { stopPrivatePostgres(t, root, port) })
	require.NoError(t, err, out)
	require.Contains(t, out, fmt.Sprintf("starting a private Postgres on 127.0.0.1:%d", port))

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u)
	require.NoError(t, err, "the database of DATABASE_URL answers; script output:\n%s", out)
	require.NoError(t, conn.Close(ctx))
}

// stopPrivatePostgres stops the server a test's script started (fast
// shutdown, as `make services-stop` does) and waits for its port to close.
func stopPrivatePostgres(t *testing.T, root string, port int) {
	b, err := os.ReadFile(filepath.Join(root, ".data", "postgres", "postmaster.pid"))
	if err != nil {
		return // none started
	}
	pid, err := strconv.Atoi(strings.SplitN(string(b), "\n", 2)[0])
	if err != nil {
		t.Errorf("postmaster.pid: %v", err)
		return
	}
	_ = syscall.Kill(pid, syscall.SIGINT)
	for range 100 {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("private Postgres (pid %d) still answers on %d", pid, port)
}

// A server on another host is not started here: the script says which
// variable points where, and stops.
func TestServicesRemoteHostNotAnswering(t *testing.T) {
	t.Parallel()
	root, out, err := runServices(t, "DATABASE_URL=postgres://app:secret@db.invalid:6543/jobs")
	require.Error(t, err)
	require.Contains(t, out, "DATABASE_URL points at Postgres on db.invalid:6543, which does not answer")
	require.NotContains(t, out, "secret")
	_, statErr := os.Stat(filepath.Join(root, ".data"))
	require.True(t, os.IsNotExist(statErr), "nothing started locally")

	_, out, err = runServices(t, "DB_HOST=db.invalid")
	require.Error(t, err)
	require.Contains(t, out, "DB_HOST/DB_PORT points at Postgres on db.invalid:5432")
}
