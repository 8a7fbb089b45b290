package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/bespin/bespin/internal/dbtest"
	"github.com/bespin/bespin/sql/migrations"
)

// closedPort is a local port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	require.NoError(t, ln.Close())
	return port
}

// A database that cannot be reached stops every command with one line
// naming the variable that chose it, where it looked and what to do.
func TestRunExplainsDatabaseErrors(t *testing.T) {
	t.Parallel()
	port := closedPort(t)
	missing, err := url.Parse(dbtest.AdminURL(t))
	require.NoError(t, err)
	missing.Path = "/bespin_no_such_db"

	for _, tc := range []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"serve, DATABASE_URL closed port", []string{"serve"}, []string{"DATABASE_URL=postgres://postgres@127.0.0.1:" + port + "/bespin"},
			"DATABASE_URL: no Postgres answers at 127.0.0.1:" + port + " (connection refused): start Postgres (`make services`) or fix DATABASE_URL"},
		{"worker, DB_* closed port", []string{"worker"}, []string{"DB_HOST=127.0.0.1", "DB_PORT=" + port},
			"DB_HOST/DB_PORT: no Postgres answers at 127.0.0.1:" + port + " (connection refused): start Postgres (`make services`) or fix DB_HOST/DB_PORT"},
		{"migrate, missing database", []string{"migrate", "version"}, []string{"DATABASE_URL=" + missing.String()},
			`DATABASE_URL: Postgres at ` + missing.Host + ` has no database "bespin_no_such_db": create it (` + "`createdb bespin_no_such_db`"},
		{"healthcheck worker, missing database by DB_NAME", []string{"healthcheck", "worker"},
			[]string{"DB_HOST=" + missing.Hostname(), "DB_PORT=" + missing.Port(), "DB_NAME=bespin_no_such_db"},
			`DB_NAME: Postgres at ` + missing.Host + ` has no database "bespin_no_such_db"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := run(context.Background(), append([]string{"bespin-api"}, tc.args...), append(tc.env, "LOG_LEVEL=error"), io.Discard, io.Discard)
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
			require.NotContains(t, err.Error(), "open migration driver")
		})
	}
}

// A dirty schema stops serve with the force commands to run, and migrate
// force accepts only versions that exist.
func TestDirtySchemaAndForce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL := dbtest.URL(t)
	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "UPDATE schema_migrations SET dirty = true")
	require.NoError(t, err)
	env := []string{"DATABASE_URL=" + dbURL, "LOG_LEVEL=error"}
	latest := migrations.Latest()

	for _, autoMigrate := range []string{"true", "false"} {
		err = run(ctx, []string{"bespin-api", "serve"}, append(env, "AUTO_MIGRATE="+autoMigrate), io.Discard, io.Discard)
		require.ErrorContains(t, err, fmt.Sprintf("run `bespin-api migrate force %d`", latest-1), "AUTO_MIGRATE=%s", autoMigrate)
		require.ErrorContains(t, err, fmt.Sprintf("run `bespin-api migrate force %d`", latest), "AUTO_MIGRATE=%s", autoMigrate)
	}

	err = run(ctx, []string{"bespin-api", "migrate", "force", fmt.Sprint(latest + 1)}, env, io.Discard, io.Discard)
	require.ErrorIs(t, err, migrations.ErrUnknownVersion)
	err = run(ctx, []string{"bespin-api", "migrate", "force", "-1"}, env, io.Discard, io.Discard)
	require.ErrorIs(t, err, errUsage)

	var out strings.Builder
	require.NoError(t, run(ctx, []string{"bespin-api", "migrate", "force", fmt.Sprint(latest)}, env, &out, io.Discard))
	require.Contains(t, out.String(), fmt.Sprintf("schema version %d of %d (dirty: false)", latest, latest))
}
