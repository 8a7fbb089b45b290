// Package migrations holds Bespin's database schema as golang-migrate SQL
// files, embedded in the binary, and the few operations the server and the
// `bespin-api migrate` command run on them.
//
// River's own schema is part of the same sequence: each River migration
// version is rendered into one ordinary pair of files by the genriver
// generator (`go generate ./sql/migrations`), so River UI and River's client
// find exactly the schema River's own migrator would have made, including
// the rows in river_migration. One file per River version matters: version 4
// adds an enum value that version 6 uses, and Postgres refuses to use a new
// enum value in the transaction that added it.
package migrations

//go:generate go run ./genriver

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"regexp"
	"sort"
	"strconv"
	"syscall"
	"time"

	"github.com/golang-migrate/migrate/v4"
	migratepgx "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

//go:embed *.sql
var FS embed.FS

var fileNameRE = regexp.MustCompile(`^(\d+)_(.+)\.(up|down)\.sql$`)

// Latest is the highest migration version embedded in this binary.
func Latest() uint {
	var latest uint
	for _, f := range files() {
		if f.version > latest {
			latest = f.version
		}
	}
	return latest
}

type file struct {
	name    string
	version uint
	label   string
	up      bool
}

func files() []file {
	entries, err := fs.ReadDir(FS, ".")
	if err != nil {
		panic(err) // embedded; cannot fail
	}
	var out []file
	for _, e := range entries {
		m := fileNameRE.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		v, _ := strconv.ParseUint(m[1], 10, 64)
		out = append(out, file{name: e.Name(), version: uint(v), label: m[2], up: m[3] == "up"})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// Migrator runs the embedded migrations against one database.
type Migrator struct {
	m  *migrate.Migrate
	db *sql.DB
}

// connectTimeout bounds each connection attempt when the URL sets no
// connect_timeout: a host that drops packets would otherwise hold the
// start for the operating system's TCP timeout (minutes).
const connectTimeout = 5 * time.Second

// New opens a dedicated database/sql handle (golang-migrate's pgx driver
// needs one) for databaseURL. Close it when done. When Postgres cannot be
// reached or refuses the connection, the error is a *ConnectError.
func New(databaseURL string, logger *slog.Logger) (*Migrator, error) {
	connConfig, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("parse database URL: %w", err)
	}
	if connConfig.ConnectTimeout == 0 {
		connConfig.ConnectTimeout = connectTimeout
	}
	db := stdlib.OpenDB(*connConfig)
	// Connect here, before golang-migrate does, so a database that cannot
	// be reached is reported as such rather than as a driver error.
	if err := db.PingContext(context.Background()); err != nil {
		db.Close()
		return nil, &ConnectError{
			Addr: net.JoinHostPort(connConfig.Host, strconv.Itoa(int(connConfig.Port))), Database: connConfig.Database, Err: err,
		}
	}
	driver, err := migratepgx.WithInstance(db, &migratepgx.Config{})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open migration driver: %w", err)
	}
	src, err := iofs.New(FS, ".")
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open embedded migrations: %w", err)
	}
	m, err := migrate.NewWithInstance("iofs", src, "pgx5", driver)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("create migrator: %w", err)
	}
	if logger != nil {
		m.Log = migrateLogger{logger}
	}
	return &Migrator{m: m, db: db}, nil
}

// Close releases the migrator's database handle.
func (mg *Migrator) Close() error {
	srcErr, dbErr := mg.m.Close()
	return errors.Join(srcErr, dbErr, mg.db.Close())
}

// Up applies every pending migration. golang-migrate holds a Postgres
// advisory lock meanwhile, so concurrent starts are safe.
func (mg *Migrator) Up() error {
	if err := mg.m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return fmt.Errorf("migrate up: %w", explainDirty(err))
	}
	return nil
}

// Down reverts n migrations; n <= 0 reverts all of them.
func (mg *Migrator) Down(n int) error {
	var err error
	if n <= 0 {
		err = mg.m.Down()
	} else {
		err = mg.m.Steps(-n)
	}
	if err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return fmt.Errorf("migrate down: %w", explainDirty(err))
	}
	return nil
}

// ErrUnknownVersion is returned by Force for a version this binary has no
// migration for.
var ErrUnknownVersion = errors.New("unknown schema version")

// Force marks the database as being at version without running anything;
// the way out of a dirty state after fixing a failed migration by hand.
// version is 0 (nothing applied) or one of the embedded migrations: any
// other number would leave a schema no binary can migrate from.
func (mg *Migrator) Force(version uint) error {
	if version == 0 {
		return mg.m.Force(-1) // golang-migrate's "no version"
	}
	if !known(version) {
		return fmt.Errorf("%w: there is no migration %d in this binary (it knows 1 to %d); force the version whose migration you completed by hand, or the one before it", ErrUnknownVersion, version, Latest())
	}
	return mg.m.Force(int(version))
}

func known(version uint) bool {
	for _, f := range files() {
		if f.version == version {
			return true
		}
	}
	return false
}

// previous is the version below v in the embedded sequence, or 0.
func previous(v uint) uint {
	var prev uint
	for _, f := range files() {
		if f.version < v && f.version > prev {
			prev = f.version
		}
	}
	return prev
}

// Version reports the database's schema version; 0 with no migrations applied.
func (mg *Migrator) Version() (version uint, dirty bool, err error) {
	version, dirty, err = mg.m.Version()
	if errors.Is(err, migrate.ErrNilVersion) {
		return 0, false, nil
	}
	return version, dirty, err
}

// ErrSchemaMismatch is returned by Check when the binary and the database
// disagree about the schema.
var ErrSchemaMismatch = errors.New("schema mismatch")

// Check refuses a database whose schema this binary cannot serve: newer than
// it knows, older than it needs, or left dirty by a failed migration.
func (mg *Migrator) Check() error {
	version, dirty, err := mg.Version()
	if err != nil {
		return err
	}
	latest := Latest()
	switch {
	case dirty:
		return fmt.Errorf("%w: %s", ErrSchemaMismatch, dirtyMessage(version))
	case version > latest:
		return fmt.Errorf("%w: database schema version %d is newer than this binary knows (%d); run a newer bespin-api", ErrSchemaMismatch, version, latest)
	case version < latest:
		return fmt.Errorf("%w: database schema version %d is older than this binary needs (%d); run `bespin-api migrate up` or set AUTO_MIGRATE=true", ErrSchemaMismatch, version, latest)
	}
	return nil
}

// dirtyMessage says what a dirty schema means and the commands that get
// out of it, with their numbers.
func dirtyMessage(version uint) string {
	return fmt.Sprintf("database schema version %d is dirty: migration %d failed half-way. "+
		"Fix what it left by hand, then either undo the rest of it and run `bespin-api migrate force %d`, "+
		"or finish it and run `bespin-api migrate force %d`; then `bespin-api migrate up`",
		version, version, previous(version), version)
}

// explainDirty replaces golang-migrate's "Dirty database version N. Fix and
// force version." with dirtyMessage.
func explainDirty(err error) error {
	var dirty migrate.ErrDirty
	if errors.As(err, &dirty) && dirty.Version >= 0 {
		return fmt.Errorf("%w: %s", ErrSchemaMismatch, dirtyMessage(uint(dirty.Version)))
	}
	return err
}

// ConnectError is New's error when Postgres cannot be reached or refuses
// the connection. Addr and Database say where it looked.
type ConnectError struct {
	Addr     string // host:port of the URL's (first) host
	Database string
	Err      error // pgx's error
}

func (e *ConnectError) Error() string {
	return fmt.Sprintf("cannot connect to Postgres at %s (database %q): %s", e.Addr, e.Database, e.Reason())
}

func (e *ConnectError) Unwrap() error { return e.Err }

// Unreachable reports whether nothing answered at Addr (refused, timed out,
// or the host name did not resolve), as opposed to a server that answered
// and refused (no such database, wrong password).
func (e *ConnectError) Unreachable() bool {
	var pgErr *pgconn.PgError
	return !errors.As(e.Err, &pgErr)
}

// Reason is the cause in a few words: the server's message, or what went
// wrong on the way to it.
func (e *ConnectError) Reason() string {
	var pgErr *pgconn.PgError
	var dnsErr *net.DNSError
	switch {
	case errors.As(e.Err, &pgErr):
		return pgErr.Message + " (SQLSTATE " + pgErr.Code + ")"
	case errors.As(e.Err, &dnsErr):
		return fmt.Sprintf("host name %q does not resolve", dnsErr.Name)
	case errors.Is(e.Err, syscall.ECONNREFUSED):
		return "connection refused"
	case pgconn.Timeout(e.Err) || errors.Is(e.Err, context.DeadlineExceeded):
		return "no answer (timed out)"
	}
	return e.Err.Error()
}

type migrateLogger struct{ logger *slog.Logger }

func (l migrateLogger) Printf(format string, v ...any) {
	l.logger.Info("migrate: " + trimNewline(fmt.Sprintf(format, v...)))
}
func (l migrateLogger) Verbose() bool { return false }

func trimNewline(s string) string {
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	return s
}
