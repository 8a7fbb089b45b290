package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/bespin/bespin/internal/dbtest"
	"github.com/bespin/bespin/jobs"
)

// signIn posts token to /api/session and returns the session cookie.
func signIn(t *testing.T, baseURL, token string, header http.Header) *http.Cookie {
	t.Helper()
	r := call(t, http.MethodPost, baseURL+"/api/session", `{"token":"`+token+`"}`, header)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == "bespin_session" {
			return c
		}
	}
	t.Fatalf("no bespin_session cookie in %v", r.header.Values("Set-Cookie"))
	return nil
}

func withCookie(c *http.Cookie, more ...string) http.Header {
	h := http.Header{"Cookie": {c.Name + "=" + c.Value}}
	for i := 0; i+1 < len(more); i += 2 {
		h.Set(more[i], more[i+1])
	}
	return h
}

type sessionInfo struct {
	Authenticated bool       `json:"authenticated"`
	ExpiresAt     *time.Time `json:"expires_at"`
	Auth          string     `json:"auth"`
}

// A browser signs in with a token and then uses the cookie everywhere a
// token is taken (REST, WebSocket streams), on every instance that shares
// the database and the token; signing out ends it everywhere; removing the
// token from API_TOKEN ends its sessions.
func TestSessionLifecycle(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.URL(t)
	a := startServer(t, "DATABASE_URL="+dbURL, "API_TOKEN=first-token,second-token", "RUN_WORKERS=false")
	b := startServer(t, "DATABASE_URL="+dbURL, "API_TOKEN=first-token,second-token", "RUN_WORKERS=false")
	rotated := startServer(t, "DATABASE_URL="+dbURL, "API_TOKEN=second-token", "RUN_WORKERS=false")

	for body, code := range map[string]string{
		`not json`:            "invalid_body",
		`{"token": ""}`:       "invalid_parameter",
		`{"token": "guess"}`:  "invalid_token",
		`{"token": 12345678}`: "invalid_body",
	} {
		r := call(t, http.MethodPost, a.URL+"/api/session", body, nil)
		require.Equal(t, code, r.errorCode(t), body)
		require.Empty(t, r.header.Values("Set-Cookie"), body)
	}

	cookie := signIn(t, a.URL, "first-token", nil)
	require.True(t, cookie.HttpOnly)
	require.Equal(t, http.SameSiteStrictMode, cookie.SameSite)
	require.False(t, cookie.Secure, "plain HTTP from an untrusted peer")
	require.Equal(t, "/", cookie.Path)
	require.Equal(t, int((12 * time.Hour).Seconds()), cookie.MaxAge)
	require.WithinDuration(t, time.Now().Add(12*time.Hour), cookie.Expires, time.Minute)

	for _, srv := range []*testServer{a, b} {
		var me sessionInfo
		r := call(t, http.MethodGet, srv.URL+"/api/session", "", withCookie(cookie))
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		r.decode(t, &me)
		require.Equal(t, "session", me.Auth)
		require.NotNil(t, me.ExpiresAt)
		require.WithinDuration(t, cookie.Expires, *me.ExpiresAt, time.Second)
		require.Equal(t, http.StatusOK, call(t, http.MethodGet, srv.URL+"/api/jobs", "", withCookie(cookie)).status)
		require.Equal(t, http.StatusOK, call(t, http.MethodGet, srv.URL+"/metrics", "", withCookie(cookie)).status)

		// WebSocket streams take the cookie too: a same-origin browser
		// needs no ?token=.
		conn, resp, err := websocket.DefaultDialer.Dial(wsURL(srv.URL, "/api/ws?topic=jobs"), withCookie(cookie))
		require.NoError(t, err)
		resp.Body.Close()
		conn.Close()
	}

	// The instance whose API_TOKEN no longer has first-token refuses it.
	r := call(t, http.MethodGet, rotated.URL+"/api/jobs", "", withCookie(cookie))
	require.Equal(t, http.StatusUnauthorized, r.status)
	require.Contains(t, string(r.body), "no longer accepted")

	// A bearer header decides alone: a wrong one is not rescued by the cookie.
	h := withCookie(cookie, "Authorization", "Bearer wrong")
	require.Equal(t, http.StatusUnauthorized, call(t, http.MethodGet, a.URL+"/api/jobs", "", h).status)
	var me sessionInfo
	call(t, http.MethodGet, a.URL+"/api/session", "", bearer("second-token")).decode(t, &me)
	require.Equal(t, sessionInfo{Authenticated: true, Auth: "token"}, me)
	require.Equal(t, http.StatusUnauthorized, call(t, http.MethodGet, a.URL+"/api/session", "", nil).status)

	// Signing out on a ends the session on b too, and clears the cookie.
	r = call(t, http.MethodDelete, a.URL+"/api/session", "", withCookie(cookie))
	require.Equal(t, http.StatusNoContent, r.status)
	cleared := (&http.Response{Header: r.header}).Cookies()
	require.Len(t, cleared, 1)
	require.Equal(t, "bespin_session", cleared[0].Name)
	require.Negative(t, cleared[0].MaxAge)
	for _, srv := range []*testServer{a, b} {
		r := call(t, http.MethodGet, srv.URL+"/api/jobs", "", withCookie(cookie))
		require.Equal(t, http.StatusUnauthorized, r.status)
		require.Contains(t, string(r.body), "sign in again")
	}
	require.Equal(t, http.StatusNoContent, call(t, http.MethodDelete, a.URL+"/api/session", "", nil).status, "signing out twice is fine")
}

// Sessions expire by the database's clock, and sign-ins delete expired ones.
func TestSessionExpiry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL := dbtest.URL(t)
	srv := startServer(t, "DATABASE_URL="+dbURL, "API_TOKEN=tok", "SESSION_TTL=1h", "RUN_WORKERS=false")
	cookie := signIn(t, srv.URL, "tok", nil)
	require.Equal(t, 3600, cookie.MaxAge)
	require.Equal(t, http.StatusOK, call(t, http.MethodGet, srv.URL+"/api/jobs", "", withCookie(cookie)).status)

	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `UPDATE sessions SET created_at = now() - interval '2 hours', expires_at = now() - interval '1 hour'`)
	require.NoError(t, err)
	require.Equal(t, http.StatusUnauthorized, call(t, http.MethodGet, srv.URL+"/api/jobs", "", withCookie(cookie)).status)

	signIn(t, srv.URL, "tok", nil)
	var n int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM sessions WHERE expires_at <= now()`).Scan(&n))
	require.Zero(t, n, "the expired session was deleted at the next sign-in")
}

// The cookie is Secure when the request came over HTTPS through a trusted
// proxy, and only then.
func TestSessionCookieSecureBehindProxy(t *testing.T) {
	t.Parallel()
	trusting := startServer(t, "API_TOKEN=tok", "TRUSTED_PROXIES=127.0.0.1", "RUN_WORKERS=false")
	untrusting := startServer(t, "API_TOKEN=tok", "RUN_WORKERS=false")
	https := http.Header{"X-Forwarded-Proto": {"https"}}
	require.True(t, signIn(t, trusting.URL, "tok", https).Secure)
	require.False(t, signIn(t, trusting.URL, "tok", nil).Secure)
	require.False(t, signIn(t, untrusting.URL, "tok", https).Secure, "X-Forwarded-Proto from an untrusted peer")
}

// Cookie-authenticated writes from another origin are refused (forged
// Sec-Fetch-Site or Origin, as a browser sends them); the same writes from
// the page's own origin, or with a bearer token, go through. Signing in
// from another origin is refused too.
func TestSessionCrossOriginWrites(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "API_TOKEN=tok", "RUN_WORKERS=false")
	cookie := signIn(t, srv.URL, "tok", nil)
	job := createJob(t, srv.URL, "length=5")
	cancel := srv.URL + "/api/jobs/" + job.JobID + "/cancel"

	for _, forged := range []http.Header{
		withCookie(cookie, "Sec-Fetch-Site", "cross-site"),
		withCookie(cookie, "Sec-Fetch-Site", "same-site"),
		withCookie(cookie, "Origin", "https://evil.example.com"),
	} {
		r := call(t, http.MethodPost, cancel, "", forged)
		require.Equal(t, http.StatusForbidden, r.status, "%v", forged)
		require.Equal(t, "cross_origin_request", r.errorCode(t))
		r = call(t, http.MethodDelete, srv.URL+"/api/jobs/"+job.JobID, "", forged)
		require.Equal(t, http.StatusForbidden, r.status)
		r = call(t, http.MethodPost, srv.URL+"/riverui/api/jobs/cancel", `{"ids":["`+job.JobID+`"]}`, forged)
		require.Equal(t, http.StatusForbidden, r.status)
	}
	// Reads with the cookie from elsewhere are not writes.
	require.Equal(t, http.StatusOK, call(t, http.MethodGet, srv.URL+"/api/jobs", "", withCookie(cookie, "Sec-Fetch-Site", "cross-site")).status)
	var got jobs.Status
	call(t, http.MethodGet, srv.URL+"/api/jobs/"+job.JobID, "", nil).decode(t, &got)
	require.Equal(t, "pending", got.Status, "nothing was cancelled or deleted")

	r := call(t, http.MethodPost, srv.URL+"/api/session", `{"token":"tok"}`, http.Header{"Sec-Fetch-Site": {"cross-site"}})
	require.Equal(t, http.StatusForbidden, r.status)
	require.Empty(t, r.header.Values("Set-Cookie"))

	// A bearer token is never sent by a browser on its own: no origin check.
	h := bearer("tok")
	h.Set("Sec-Fetch-Site", "cross-site")
	require.Equal(t, http.StatusOK, call(t, http.MethodPost, cancel, "", h).status)
	// The page's own origin may.
	job = createJob(t, srv.URL, "length=5")
	r = call(t, http.MethodPost, srv.URL+"/api/jobs/"+job.JobID+"/cancel", "", withCookie(cookie, "Sec-Fetch-Site", "same-origin", "Origin", srv.URL))
	require.Equal(t, http.StatusOK, r.status, string(r.body))
}

func TestLoginRateLimited(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "API_TOKEN=tok", "RATE_LIMIT_LOGIN_PER_MINUTE=1", "RATE_LIMIT_LOGIN_BURST=2", "RUN_WORKERS=false")
	require.Equal(t, http.StatusUnauthorized, call(t, http.MethodPost, srv.URL+"/api/session", `{"token":"guess-1"}`, nil).status)
	signIn(t, srv.URL, "tok", nil)
	r := call(t, http.MethodPost, srv.URL+"/api/session", `{"token":"tok"}`, nil)
	require.Equal(t, http.StatusTooManyRequests, r.status)
	require.Equal(t, "rate_limited", r.errorCode(t))
	require.NotEmpty(t, r.header.Get("Retry-After"))
}

// Without API_TOKEN (development) everything is open and there is nothing
// to sign in to.
func TestSessionOpenInDevelopment(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "RUN_WORKERS=false")
	var me sessionInfo
	call(t, http.MethodGet, srv.URL+"/api/session", "", nil).decode(t, &me)
	require.Equal(t, sessionInfo{Authenticated: true, Auth: "open"}, me)
	r := call(t, http.MethodPost, srv.URL+"/api/session", `{"token":"anything"}`, nil)
	require.Equal(t, http.StatusConflict, r.status)
	require.Equal(t, "sessions_disabled", r.errorCode(t))
}

// Tokens, session cookies and watch tokens never reach the logs, whether
// they were accepted or refused.
func TestCredentialsNotLogged(t *testing.T) {
	t.Parallel()
	const token, wrong = "tok-7f3c9a-never-logged", "wrong-4b1e-never-logged"
	srv := startServer(t, "API_TOKEN="+token, "BESPIN_ENV=production", "RUN_WORKERS=false")
	call(t, http.MethodPost, srv.URL+"/api/session", `{"token":"`+wrong+`"}`, nil)
	cookie := signIn(t, srv.URL, token, nil)
	call(t, http.MethodGet, srv.URL+"/api/jobs", "", withCookie(cookie))
	call(t, http.MethodGet, srv.URL+"/api/jobs", "", bearer(wrong))
	job := createJob(t, srv.URL, "length=3")
	call(t, http.MethodGet, srv.URL+"/api/jobs/"+job.JobID+"?watch_token="+job.WatchToken, "", nil)
	conn, resp, err := websocket.DefaultDialer.Dial(wsURL(srv.URL, "/api/ws?topic=jobs&token="+token), nil)
	require.NoError(t, err)
	resp.Body.Close()
	conn.Close()
	call(t, http.MethodDelete, srv.URL+"/api/session", "", withCookie(cookie))

	require.NoError(t, srv.stop())
	logs := srv.logs.String()
	require.Contains(t, logs, `"path":"/api/session"`, "the requests were logged")
	for _, secret := range []string{token, wrong, cookie.Value, job.WatchToken} {
		require.False(t, strings.Contains(logs, secret), "%q is in the logs", secret)
	}
}
