package migrations_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/stretchr/testify/require"

	"github.com/bespin/bespin/internal/dbtest"
	"github.com/bespin/bespin/sql/migrations"
)

// Every River migration of the River version in go.mod must be in
// sql/migrations, rendered exactly as genriver renders it today. After a
// River upgrade this fails until `make generate` is run.
func TestRiverMigrationsUpToDate(t *testing.T) {
	t.Parallel()
	want, err := migrations.RiverFiles()
	require.NoError(t, err)
	have := migrations.RiverFileNames()
	for _, f := range want {
		got, ok := have[f.RiverVersion]
		if !ok {
			t.Errorf("River migration %03d (%s) is missing from sql/migrations: run `make generate`", f.RiverVersion, f.Label)
			continue
		}
		require.Equal(t, f.Label, got.Label, "River migration %03d was renamed: run `make generate`", f.RiverVersion)
		up, err := migrations.ReadFile(migrationName(got.Number, got.Label, "up"))
		require.NoError(t, err)
		require.Equal(t, f.Up, up, "River migration %03d up differs from River's: run `make generate`", f.RiverVersion)
		down, err := migrations.ReadFile(migrationName(got.Number, got.Label, "down"))
		require.NoError(t, err)
		require.Equal(t, f.Down, down, "River migration %03d down differs from River's: run `make generate`", f.RiverVersion)
	}
}

func migrationName(n uint, label, dir string) string {
	return fmtNumber(n) + "_" + label + "." + dir + ".sql"
}

func fmtNumber(n uint) string {
	s := []byte("000000")
	for i := len(s) - 1; i >= 0 && n > 0; i-- {
		s[i] = byte('0' + n%10)
		n /= 10
	}
	return string(s)
}

// River's own migrator must see the schema it would have made itself, so
// River UI and future River upgrades work on a Bespin database.
func TestRiverValidatesSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.Pool(t)
	requireRiverValid(ctx, t, pool)
}

func requireRiverValid(ctx context.Context, t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	migrator, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	require.NoError(t, err)
	res, err := migrator.Validate(ctx, nil)
	require.NoError(t, err)
	require.True(t, res.OK, "river reports missing migrations: %v", res.Messages)
}

// Down all the way leaves nothing but golang-migrate's own table; up again
// rebuilds a schema River accepts and Bespin can write to.
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL := dbtest.URL(t)
	pool, err := pgxpool.New(ctx, dbURL)
	require.NoError(t, err)
	defer pool.Close()

	m, err := migrations.New(dbURL, nil)
	require.NoError(t, err)
	defer m.Close()

	v, dirty, err := m.Version()
	require.NoError(t, err)
	require.Equal(t, migrations.Latest(), v)
	require.False(t, dirty)
	require.NoError(t, m.Check())

	require.NoError(t, m.Down(0))
	var leftovers []string
	rows, err := pool.Query(ctx, `
		SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
		  AND c.relname NOT LIKE 'schema_migrations%'
		UNION ALL
		SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
		WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd')
		UNION ALL
		SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		WHERE n.nspname = 'public'`)
	require.NoError(t, err)
	for rows.Next() {
		var name string
		require.NoError(t, rows.Scan(&name))
		leftovers = append(leftovers, name)
	}
	require.NoError(t, rows.Err())
	require.Empty(t, leftovers, "migrating down all the way must remove everything")
	v, _, err = m.Version()
	require.NoError(t, err)
	require.Zero(t, v)
	require.ErrorIs(t, m.Check(), migrations.ErrSchemaMismatch, "an empty schema is older than the binary")

	require.NoError(t, m.Up())
	require.NoError(t, m.Check())
	requireRiverValid(ctx, t, pool)
	_, err = pool.Exec(ctx, `INSERT INTO webhook_receipts (source, event, body, payload, verified) VALUES ('test', 'ping', '\x7b7d', '{}', true)`)
	require.NoError(t, err)
}

// A database at a version this binary does not know is refused, not served.
func TestCheckRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.Pool(t)
	_, err := pool.Exec(ctx, "UPDATE schema_migrations SET version = $1", migrations.Latest()+1)
	require.NoError(t, err)
	m, err := migrations.New(pool.Config().ConnString(), nil)
	require.NoError(t, err)
	defer m.Close()
	err = m.Check()
	require.ErrorIs(t, err, migrations.ErrSchemaMismatch)
	require.Contains(t, err.Error(), "newer than this binary")
}

// migrate force takes 0 or a version this binary has: forcing a number
// past the last migration would leave a schema nothing can migrate.
func TestForceKnownVersionsOnly(t *testing.T) {
	t.Parallel()
	m, err := migrations.New(dbtest.URL(t), nil)
	require.NoError(t, err)
	defer m.Close()

	err = m.Force(migrations.Latest() + 1)
	require.ErrorIs(t, err, migrations.ErrUnknownVersion)
	require.Contains(t, err.Error(), fmt.Sprintf("it knows 1 to %d", migrations.Latest()))
	v, _, err := m.Version()
	require.NoError(t, err)
	require.Equal(t, migrations.Latest(), v, "a refused force changes nothing")

	require.NoError(t, m.Force(migrations.Latest()-1))
	v, _, err = m.Version()
	require.NoError(t, err)
	require.Equal(t, migrations.Latest()-1, v)

	require.NoError(t, m.Force(0), "0 means nothing applied")
	v, dirty, err := m.Version()
	require.NoError(t, err)
	require.Zero(t, v)
	require.False(t, dirty)
}

// A migration that failed half-way leaves the schema dirty; the error
// says which commands get out of it, with their numbers, whether it comes
// from migrate up (AUTO_MIGRATE) or from the check at start.
func TestDirtySchemaNamesTheForceCommand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.Pool(t)
	_, err := pool.Exec(ctx, "UPDATE schema_migrations SET dirty = true")
	require.NoError(t, err)
	m, err := migrations.New(pool.Config().ConnString(), nil)
	require.NoError(t, err)
	defer m.Close()

	latest := migrations.Latest()
	for name, err := range map[string]error{"up": m.Up(), "down": m.Down(1), "check": m.Check()} {
		require.ErrorIs(t, err, migrations.ErrSchemaMismatch, name)
		require.Contains(t, err.Error(), fmt.Sprintf("schema version %d is dirty", latest), name)
		require.Contains(t, err.Error(), fmt.Sprintf("`bespin-api migrate force %d`", latest-1), name)
		require.Contains(t, err.Error(), fmt.Sprintf("`bespin-api migrate force %d`", latest), name)
		require.NotContains(t, err.Error(), "Dirty database version", name)
	}

	require.NoError(t, m.Force(latest))
	require.NoError(t, m.Up())
	require.NoError(t, m.Check())
}

// New says where it looked and why it could not connect.
func TestNewCannotConnect(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := ln.Addr().String()
	require.NoError(t, ln.Close())

	_, err = migrations.New("postgres://postgres@"+closed+"/bespin?sslmode=disable", nil)
	var ce *migrations.ConnectError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, closed, ce.Addr)
	require.True(t, ce.Unreachable())
	require.Equal(t, "connection refused", ce.Reason())
	require.Contains(t, err.Error(), "cannot connect to Postgres at "+closed)

	u, err := url.Parse(dbtest.URL(t))
	require.NoError(t, err)
	u.Path = "/bespin_no_such_database"
	_, err = migrations.New(u.String(), nil)
	require.ErrorAs(t, err, &ce)
	require.False(t, ce.Unreachable(), "the server answered")
	require.Contains(t, ce.Reason(), `database "bespin_no_such_database" does not exist`)
}
