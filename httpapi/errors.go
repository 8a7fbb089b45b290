package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/bespin/bespin/store"
	"github.com/bespin/bespin/webhook"
)

// Error is an error with a client-facing status, code and message. Handlers
// return it for what the client did wrong that only the handler knows
// (a bad parameter); errors from other packages are mapped by kindTable.
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

// kindTable is where the kinds of error other packages return meet HTTP
// statuses: the one table. The message is the error's own when it carries
// one meant for clients (store.Error, webhook.Error), else the one here.
// Rows marked internal are logged with their cause; the cause is never
// shown.
var kindTable = []struct {
	kind     error
	status   int
	code     string
	message  string
	internal bool
}{
	{store.ErrNotFound, http.StatusNotFound, "not_found", "Not found.", false},
	{store.ErrBadCursor, http.StatusBadRequest, "invalid_parameter", "cursor is not one this API returned; start again without it.", false},
	{store.ErrConflict, http.StatusConflict, "conflict", "The resource already exists.", false},
	{store.ErrInvalidData, http.StatusBadRequest, "invalid_payload", "The data cannot be stored as it is (for example, JSON containing \\u0000).", false},
	{store.ErrUnavailable, http.StatusServiceUnavailable, "service_unavailable", unavailableMessage, true},
	{webhook.ErrUnauthorized, http.StatusUnauthorized, "invalid_signature", "The delivery's signature was refused.", false},
	{webhook.ErrInvalidPayload, http.StatusBadRequest, "invalid_payload", "The payload was refused.", false},
	{webhook.ErrMissingEvent, http.StatusBadRequest, "missing_event", "The delivery names no event type.", false},
	{webhook.ErrMediaType, http.StatusUnsupportedMediaType, "unsupported_media_type", "The body is not what its Content-Type says.", false},
}

const unavailableMessage = "The service is temporarily unavailable; retry shortly."

// retryAfterUnavailable is the Retry-After, in seconds, of every 503 that
// says the database is unavailable.
const retryAfterUnavailable = "5"

// toError maps any error to the response a client gets; internal reports
// whether the cause should be logged.
func toError(err error) (apiErr *Error, internal bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, false
	}
	kind := store.Kind(err)
	for _, row := range kindTable {
		if kind != row.kind && !errors.Is(err, row.kind) {
			continue
		}
		e := &Error{Status: row.status, Code: row.code, Message: clientMessage(err, row.message)}
		if row.status == http.StatusServiceUnavailable {
			e.Header = http.Header{"Retry-After": []string{retryAfterUnavailable}}
		}
		return e, row.internal
	}
	return errorf(http.StatusInternalServerError, "internal_error", "Something went wrong on our side; it has been logged."), true
}

// clientMessage is the message err carries for clients, or def.
func clientMessage(err error, def string) string {
	var se *store.Error
	if errors.As(err, &se) && se.Message != "" {
		return se.Message
	}
	var we *webhook.Error
	if errors.As(err, &we) {
		return we.Message
	}
	return def
}

// handlerFunc is a handler that returns its error instead of writing it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle adapts a handlerFunc to http.Handler.
func (a *api) handle(h handlerFunc) http.Handler {
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
