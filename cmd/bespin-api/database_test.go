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
	"github.com/bespin/bespin/store"
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
		require.ErrorContains(t, err, fmt.Sprintf("run `bespin-api migrate force %d`", migrations.Previous(latest)), "AUTO_MIGRATE=%s", autoMigrate)
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

// A status read keeps using river_job's primary key after the table has
// grown, on a connection that read statuses while it was small and where
// nothing has analysed it since (autovacuum off or behind): the pool plans
// each statement for the table as it is now (newPool). A DATABASE_URL that
// asks for generic plans gets them, and with them the full-table scan this
// guards against.
func TestStatusReadsFollowTableGrowth(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		planCache string // plan_cache_mode in DATABASE_URL
		wantScans bool
	}{
		{"default", "", false},
		{"DATABASE_URL plan_cache_mode=force_generic_plan", "force_generic_plan", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			u, err := url.Parse(dbtest.URL(t))
			require.NoError(t, err)
			if tc.planCache != "" {
				q := u.Query()
				q.Set("plan_cache_mode", tc.planCache)
				u.RawQuery = q.Encode()
			}
			pool, err := newPool(ctx, config{DatabaseURL: u.String(), DBMaxConns: 1}) // one connection: one statement cache
			require.NoError(t, err)
			t.Cleanup(pool.Close)

			const insertJobs = `INSERT INTO river_job (kind, args, max_attempts) SELECT 'random-text', '{}', 1 FROM generate_series(1, $1::int) RETURNING id`
			var id int64
			require.NoError(t, pool.QueryRow(ctx, insertJobs, 1).Scan(&id))
			for range 10 { // past the five executions after which Postgres may settle on a generic plan
				_, err := store.New(pool).Job(ctx, id)
				require.NoError(t, err)
			}
			_, err = pool.Exec(ctx, insertJobs, 20000)
			require.NoError(t, err)

			tx, err := pool.Begin(ctx)
			require.NoError(t, err)
			defer tx.Rollback(ctx) //nolint:errcheck // read only
			for range 3 {
				_, err := store.New(tx).Job(ctx, id)
				require.NoError(t, err)
			}
			var scans int64
			require.NoError(t, tx.QueryRow(ctx, `SELECT coalesce(seq_scan, 0) FROM pg_stat_xact_user_tables WHERE relname = 'river_job'`).Scan(&scans))
			if tc.wantScans {
				require.Positive(t, scans, "generic plans asked for: the cached plan should scan river_job")
			} else {
				require.Zero(t, scans, "status reads scanned the whole of river_job: a generic plan made while the table was small")
			}
		})
	}
}

// A server whose Postgres runs without autovacuum says so when it starts,
// once; one with autovacuum says nothing about it.
func TestStartWarnsWithoutAutovacuum(t *testing.T) {
	t.Parallel()
	var setting string
	require.NoError(t, dbtest.Pool(t).QueryRow(context.Background(), "SHOW autovacuum").Scan(&setting))
	srv := startServer(t)
	require.NoError(t, srv.stop())
	warned := strings.Count(srv.logs.String(), "autovacuum = off")
	if setting == "off" {
		require.Equal(t, 1, warned, "logs:\n%s", srv.logs)
	} else {
		require.Zero(t, warned, "logs:\n%s", srv.logs)
	}
}
