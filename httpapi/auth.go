package httpapi

import (
	"errors"
	"net/http"
	"strings"
	"time"
)

// Authentication. API clients send `Authorization: Bearer <API_TOKEN>`;
// browsers sign in once with a token (POST /api/session) and then send the
// bespin_session cookie, which every endpoint that takes a token accepts
// too, WebSockets and River UI included. With no API_TOKEN configured
// (development only) everything is open.
//
// A cookie is sent by the browser on its own, so a request authenticated
// by one might have been caused by another site (CSRF). SameSite=Strict
// already keeps the cookie off cross-site requests; a cookie-authenticated
// write from any other origin (a sibling subdomain, another port) is also
// refused, with net/http's CrossOriginProtection (Sec-Fetch-Site, else
// Origin against Host). Bearer tokens need no such check: a browser never
// attaches them by itself.

// How a request was authenticated, as GET /api/session reports it.
const (
	authOpen    = "open"    // development without API_TOKEN: nothing to check
	authToken   = "token"   // Authorization: Bearer
	authSession = "session" // the session cookie
)

// identity is how a request was authenticated.
type identity struct {
	method    string
	expiresAt *time.Time // sessions only
}

// errUnauthorized answers a request without valid credentials.
func errUnauthorized(message string) *Error {
	e := errorf(http.StatusUnauthorized, "unauthorized", "%s", message)
	e.Header = http.Header{"WWW-Authenticate": {`Bearer realm="bespin"`}}
	return e
}

const needCredentials = "This endpoint needs an API token (Authorization: Bearer <API_TOKEN>) or a session (POST /api/session)."

var errCrossOrigin = errorf(http.StatusForbidden, "cross_origin_request",
	"A request from another origin may not use the session cookie to change anything; use a bearer token.")

// authenticate says how r is authenticated, or returns the error to answer
// with: 401 without valid credentials, 403 for a cookie-authenticated
// write from another origin, 503 when sessions cannot be read. A bearer
// header, when present, decides alone: a wrong token is not rescued by a
// cookie.
func (a *api) authenticate(r *http.Request) (identity, error) {
	if len(a.APITokens) == 0 {
		return identity{method: authOpen}, nil
	}
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, found := strings.Cut(h, " ")
		if found && strings.EqualFold(scheme, "Bearer") && a.tokenValid(token) {
			return identity{method: authToken}, nil
		}
		return identity{}, errUnauthorized("The bearer token is not one of this server's API tokens.")
	}
	s, err := a.session(r)
	if err != nil {
		return identity{}, err
	}
	if err := a.crossOrigin.Check(r); err != nil {
		return identity{}, errCrossOrigin
	}
	return identity{method: authSession, expiresAt: &s.ExpiresAt}, nil
}

// unauthorized reports whether err is authenticate's 401.
func unauthorized(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusUnauthorized
}

// requireAuth lets through only requests authenticate accepts.
func (a *api) requireAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := a.authenticate(r); err != nil {
			a.writeError(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}
