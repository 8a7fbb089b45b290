package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/bespin/bespin/internal/dbtest"
	"github.com/bespin/bespin/sql/migrations"
)

// The backup and restore commands of docs/operations.md, run exactly as
// written (each ```sh block of "Backups and retention", with
// bespin-api on PATH) from a database a real server filled, into a new
// empty database: the receipts come back byte for byte, and the whole
// database is one this binary serves.
func TestDocumentedBackupRestore(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"pg_dump", "pg_restore"} {
		_, err := exec.LookPath(tool)
		require.NoError(t, err, "%s is needed (Debian/Ubuntu: apt-get install postgresql-client)", tool)
	}
	ops, err := os.ReadFile("../../docs/operations.md")
	require.NoError(t, err)
	section := string(ops)[strings.Index(string(ops), "## Backups and retention"):]
	section = section[:strings.Index(section[3:], "\n## ")+3]
	blocks := regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(section, -1)
	require.Len(t, blocks, 2, "the whole database, and the receipts only")
	bin := buildBinary(t)

	source := dbtest.URL(t)
	srv := startServer(t, "DATABASE_URL="+source)
	for i := range 3 {
		status, _ := signedTestDelivery(t, srv.URL, fmt.Sprintf("backup-%d", i))
		require.Equal(t, http.StatusCreated, status)
	}
	createJob(t, srv.URL, "length=5")
	require.Eventually(t, func() bool {
		return !strings.Contains(strings.Join(receiptRows(t, source), "\n"), "<unprocessed>")
	}, 30*time.Second, 50*time.Millisecond, "receipts processed")
	require.NoError(t, srv.stop())
	want := receiptRows(t, source)
	require.Len(t, want, 3)

	for i, block := range blocks {
		script := block[1]
		t.Run(fmt.Sprintf("block %d", i+1), func(t *testing.T) {
			restore := emptyDatabase(t)
			cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
			cmd.Dir = t.TempDir()
			cmd.Env = append(os.Environ(), "DATABASE_URL="+source, "RESTORE_URL="+restore,
				"PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"), "LOG_LEVEL=warn")
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "docs/operations.md:\n%s\noutput:\n%s", script, out)

			require.Equal(t, want, receiptRows(t, restore), "receipts restored byte for byte")
			m, err := migrations.New(restore, nil)
			require.NoError(t, err)
			defer m.Close()
			require.NoError(t, m.Check(), "the restored schema is the one this binary serves")
		})
	}
}

// receiptRows is every receipt, with a digest of its raw body.
func receiptRows(t *testing.T, dbURL string) []string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT concat_ws(' ', id, source, event, delivery_id, md5(body), payload::text, created_at, coalesce(processed_at::text, '<unprocessed>'))
		FROM webhook_receipts ORDER BY id`)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return out
}

// emptyDatabase creates a database with nothing in it (not a clone of the
// migrated template) and drops it when t ends.
func emptyDatabase(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	admin := dbtest.AdminURL(t)
	conn, err := pgx.Connect(ctx, admin)
	require.NoError(t, err)
	defer conn.Close(ctx)
	name := "bespin_restore_" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "_"))
	name = regexp.MustCompile(`[^a-z0-9_]`).ReplaceAllString(name, "_") + fmt.Sprintf("_%d", os.Getpid())
	_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "CREATE DATABASE "+name)
	require.NoError(t, err)
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), admin)
		if err != nil {
			t.Errorf("drop %s: %v", name, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	require.NoError(t, err)
	u.Path = "/" + name
	return u.String()
}
