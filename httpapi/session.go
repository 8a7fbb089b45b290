package httpapi

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/bespin/bespin/store"
)

// Browser sessions. A session is a random 32-byte secret in an HttpOnly,
// SameSite=Strict cookie. Postgres keeps its SHA-256 and
// HMAC-SHA256(secret, token), the fingerprint of the API token it was made
// from (see sql/migrations/000015_sessions.up.sql), so every instance
// honours it, signing out ends it everywhere, and removing the token from
// API_TOKEN ends it too: no instance finds a configured token matching the
// fingerprint any more.

const (
	sessionCookie      = "bespin_session"
	sessionSecretBytes = 32
	maxSessionBody     = 4 << 10
)

func sessionIDHash(secret []byte) []byte {
	sum := sha256.Sum256(secret)
	return sum[:]
}

func tokenFingerprint(secret []byte, token string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(token))
	return m.Sum(nil)
}

// sessionSecret reads the secret from r's cookie; false when there is
// none, or not one this server could have made.
func sessionSecret(r *http.Request) ([]byte, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, false
	}
	secret, err := base64.RawURLEncoding.DecodeString(c.Value)
	return secret, err == nil && len(secret) == sessionSecretBytes
}

// session reads and checks r's session: 401 without one, or when it has
// ended, expired or outlived its token.
func (a *api) session(r *http.Request) (store.Session, error) {
	secret, found := sessionSecret(r)
	if !found {
		return store.Session{}, errUnauthorized(needCredentials)
	}
	s, err := a.Store.Session(r.Context(), sessionIDHash(secret))
	if errors.Is(err, store.ErrNotFound) {
		return store.Session{}, errUnauthorized("The session has ended or expired; sign in again.")
	}
	if err != nil {
		return store.Session{}, err
	}
	for _, t := range a.APITokens {
		if hmac.Equal(s.TokenFingerprint, tokenFingerprint(secret, t)) {
			return s, nil
		}
	}
	return store.Session{}, errUnauthorized("The token this session was made from is no longer accepted; sign in again.")
}

type sessionRequest struct {
	Token string `json:"token"`
}

type sessionCreated struct {
	ExpiresAt time.Time `json:"expires_at"`
}

type sessionInfo struct {
	Authenticated bool       `json:"authenticated"`
	ExpiresAt     *time.Time `json:"expires_at"`
	Auth          string     `json:"auth"`
}

// createSession is POST /api/session: {"token": "<API_TOKEN>"} signs the
// browser in with a session cookie. Rate limited per client IP (login
// scope); refused from other origins, so that no site can sign a visitor
// in with a token of its choosing.
func (a *api) createSession(w http.ResponseWriter, r *http.Request) error {
	if err := a.crossOrigin.Check(r); err != nil {
		return errCrossOrigin
	}
	var req sessionRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxSessionBody)).Decode(&req); err != nil {
		return errorf(http.StatusBadRequest, "invalid_body", `The body must be JSON like {"token": "<API_TOKEN>"}.`)
	}
	token := strings.TrimSpace(req.Token)
	if token == "" {
		return invalidParam("token", "is required")
	}
	if len(a.APITokens) == 0 {
		return errorf(http.StatusConflict, "sessions_disabled",
			"This server has no API_TOKEN (development): everything is open and there is nothing to sign in to.")
	}
	if !a.tokenValid(token) {
		return errorf(http.StatusUnauthorized, "invalid_token", "That token is not one of this server's API tokens.")
	}
	secret := make([]byte, sessionSecretBytes)
	_, _ = rand.Read(secret) // never fails (crypto/rand)
	expires, err := a.Store.CreateSession(r.Context(), store.NewSession{
		IDHash: sessionIDHash(secret), TokenFingerprint: tokenFingerprint(secret, token), TTL: a.SessionTTL,
	})
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: base64.RawURLEncoding.EncodeToString(secret),
		Path: "/", Expires: expires, MaxAge: int(a.SessionTTL / time.Second),
		HttpOnly: true, Secure: a.viaHTTPS(r), SameSite: http.SameSiteStrictMode,
	})
	w.Header().Set("Cache-Control", "no-store")
	ok(w, sessionCreated{ExpiresAt: expires.UTC()})
	return nil
}

// getSession is GET /api/session: how the caller is authenticated, and
// until when for a session (401 when not at all).
func (a *api) getSession(w http.ResponseWriter, r *http.Request) error {
	id, err := a.authenticate(r)
	if err != nil {
		return err
	}
	if id.expiresAt != nil {
		t := id.expiresAt.UTC()
		id.expiresAt = &t
	}
	w.Header().Set("Cache-Control", "no-store")
	ok(w, sessionInfo{Authenticated: true, ExpiresAt: id.expiresAt, Auth: id.method})
	return nil
}

// deleteSession is DELETE /api/session: signs out (ends the session on
// every instance) and clears the cookie; 204 also without a session.
func (a *api) deleteSession(w http.ResponseWriter, r *http.Request) error {
	if secret, found := sessionSecret(r); found {
		if err := a.crossOrigin.Check(r); err != nil {
			return errCrossOrigin
		}
		if err := a.Store.DeleteSession(r.Context(), sessionIDHash(secret)); err != nil {
			return err
		}
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: a.viaHTTPS(r), SameSite: http.SameSiteStrictMode,
	})
	w.WriteHeader(http.StatusNoContent)
	return nil
}
