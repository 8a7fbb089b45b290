package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Error is an error with a client-facing status, code and message. Handlers
// return it for anything the client did wrong; everything else becomes a
// 5xx with a generic message (the real error is logged, never shown).
type Error struct {
	Status  int
	Code    string // snake_case, stable for clients
	Message string // a human sentence
	// Header holds extra response headers (Retry-After, Allow, ...).
	Header http.Header
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// errorf builds an *Error; the message is formatted like fmt.Sprintf.
func errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// badRequest is a query or path parameter the client got wrong; the message
// names the parameter and what it accepts.
func badRequest(format string, args ...any) *Error {
	return errorf(http.StatusBadRequest, "invalid_parameter", format, args...)
}

// invalidParam is badRequest for one named parameter: "limit must be ...".
func invalidParam(name, format string, args ...any) *Error {
	return badRequest("%s %s.", name, fmt.Sprintf(format, args...))
}

func notFound(what string) *Error {
	return errorf(http.StatusNotFound, "not_found", "%s not found.", what)
}

// errServiceUnavailable tells a client to retry: the database cannot be
// reached right now. Nothing was committed.
func errServiceUnavailable() *Error {
	return &Error{
		Status: http.StatusServiceUnavailable, Code: "service_unavailable",
		Message: "The service is temporarily unavailable; retry shortly.",
		Header:  http.Header{"Retry-After": []string{"5"}},
	}
}

// toError maps any error to the response a client gets. It is the one
// place where error kinds meet statuses.
func toError(err error) (apiErr *Error, internal bool) {
	var e *Error
	var pgErr *pgconn.PgError
	var netErr net.Error
	switch {
	case errors.As(err, &e):
		return e, false
	case errors.Is(err, pgx.ErrNoRows):
		return notFound("Resource"), false
	case errors.As(err, &pgErr) && pgErr.Code == "23505": // unique_violation
		return errorf(http.StatusConflict, "conflict", "The resource already exists."), false
	case errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "57P01" || pgErr.Code == "57P03" || pgErr.Code == "53300"):
		// connection exceptions, admin shutdown, cannot connect now, too many connections
		return errServiceUnavailable(), true
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr), pgconn.SafeToRetry(err), isConnectError(err):
		return errServiceUnavailable(), true
	}
	return errorf(http.StatusInternalServerError, "internal_error", "Something went wrong on our side; it has been logged."), true
}

func isConnectError(err error) bool {
	var ce *pgconn.ConnectError
	return errors.As(err, &ce)
}

// handle adapts an error-returning handler to http.Handler.
func (a *api) handle(h func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			a.writeError(w, r, err)
		}
	})
}

func (a *api) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		return // the client went away; nobody to answer
	}
	e, internal := toError(err)
	if internal {
		a.Logger.ErrorContext(r.Context(), "request failed",
			slog.String("request_id", requestIDFrom(r.Context())),
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", e.Status), slog.String("error", err.Error()))
	}
	for k, vs := range e.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	writeJSON(w, e.Status, errorBody{Error: errorDetail{Code: e.Code, Message: e.Message}})
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func retryAfterSeconds(seconds int) string { return strconv.Itoa(max(seconds, 1)) }
