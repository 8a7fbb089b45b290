package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The kinds of database error callers act on. Kind classifies any error
// into one of them; the HTTP API maps each to a status in one table.
var (
	// ErrNotFound: the row asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the row exists already (a unique violation).
	ErrConflict = errors.New("conflict")
	// ErrUnavailable: the database cannot be reached or cannot serve the
	// statement right now (connection refused, lost or closed mid-statement,
	// server shutting down, too many connections, timeout). Nothing was
	// committed; retrying later is right.
	ErrUnavailable = errors.New("database unavailable")
	// ErrInvalidData: Postgres refused the data itself (a \u0000 in JSON, a
	// value too long, a CHECK constraint). Another row would have been fine.
	ErrInvalidData = errors.New("invalid data")
	// ErrBadCursor: a list cursor this package did not make.
	ErrBadCursor = errors.New("bad cursor")
)

// Error is a classified error, with a message that can be shown to a
// client as it is (it names what was asked for, never internals).
type Error struct {
	Kind    error  // one of the Err* kinds above
	Message string // for clients; "" when only the kind may be shown
	Err     error  // the cause, for logs; may be nil
}

func (e *Error) Error() string {
	switch {
	case e.Err != nil && e.Message != "":
		return e.Message + ": " + e.Err.Error()
	case e.Err != nil:
		return e.Kind.Error() + ": " + e.Err.Error()
	case e.Message != "":
		return e.Message
	}
	return e.Kind.Error()
}

// Unwrap makes errors.Is match both the kind and the cause.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

func notFound(message string) error {
	return &Error{Kind: ErrNotFound, Message: message}
}

// Kind classifies err: ErrNotFound, ErrConflict, ErrUnavailable,
// ErrInvalidData or ErrBadCursor, or nil when err is none of them (a bug,
// or a statement Postgres refused for a reason no client can fix). It is
// the one place that reads SQLSTATEs and network errors.
func Kind(err error) error {
	if err == nil {
		return nil
	}
	for _, k := range []error{ErrNotFound, ErrConflict, ErrUnavailable, ErrInvalidData, ErrBadCursor} {
		if errors.Is(err, k) {
			return k
		}
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return kindOfSQLState(pgErr.Code)
	}
	if connectionLost(err) {
		return ErrUnavailable
	}
	return nil
}

// kindOfSQLState classifies an error Postgres sent. See
// https://www.postgresql.org/docs/current/errcodes-appendix.html.
func kindOfSQLState(code string) error {
	if code == "23505" { // unique_violation
		return ErrConflict
	}
	switch code[:2] {
	case "22", "23": // data exception, integrity constraint violation
		return ErrInvalidData
	case "08", // connection exception
		"40", // transaction rollback: deadlock, serialization failure (nothing committed; a retry succeeds)
		"53", // insufficient resources (too many connections, disk full, out of memory)
		"57", // operator intervention: admin shutdown, crash shutdown, cannot connect now, query canceled
		"58": // system error (I/O)
		return ErrUnavailable
	}
	return nil
}

// connectionLost reports errors about reaching the server rather than
// about a statement: never connected, connection broken or closed
// mid-statement, or timed out.
func connectionLost(err error) bool {
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) ||
		errors.As(err, &netErr) ||
		pgconn.SafeToRetry(err) ||
		pgconn.Timeout(err) ||
		errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, net.ErrClosed) ||
		errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE)
}

// Classify wraps err, described by what was being done, with its kind
// (when it has one), so callers can test it with errors.Is(err,
// ErrUnavailable) and still log the cause. Store's methods return
// classified errors; callers classify the errors of River and pgx calls
// they make around them (Begin, Commit, InsertTx) with it.
func Classify(err error, doing string) error {
	if err == nil {
		return nil
	}
	err = fmt.Errorf("%s: %w", doing, err)
	if k := Kind(err); k != nil && !errors.As(err, new(*Error)) {
		return &Error{Kind: k, Err: err}
	}
	return err
}
