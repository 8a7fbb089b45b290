package main

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/bespin/bespin/internal/dbtest"
)

// River UI is compiled in, at /riverui/ on the API's port, for signed-in
// operators only. It runs on Bespin's own River: a job cancelled from it
// reaches Bespin's watcher, and a retry from it runs to completed, because
// River 0.51's retry drops the cancellation request that the released
// River UI image's older retry left behind (which had the retried run
// cancelled again).
func TestRiverUI(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL := dbtest.URL(t)
	// No workers yet: the job waits, so it is cancelled from River UI
	// while pending (which records the cancellation request in its
	// metadata, as for a running job).
	srv := startServer(t, "DATABASE_URL="+dbURL, "API_TOKEN=tok", "RUN_WORKERS=false")
	noRedirect := &http.Client{Transport: http.DefaultClient.Transport, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}

	// Without a session: a browser is sent to sign in; River UI's API
	// answers 401 like Bespin's.
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/riverui/jobs?state=available", nil)
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	req.Header.Set("Sec-Fetch-Mode", "navigate")
	resp, err := noRedirect.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/signin?next="+url.QueryEscape("/riverui/jobs?state=available"), resp.Header.Get("Location"))
	r := call(t, http.MethodGet, srv.URL+"/riverui/api/jobs?state=available", "", nil)
	require.Equal(t, http.StatusUnauthorized, r.status)
	require.Equal(t, "unauthorized", r.errorCode(t))

	// Signed in, the browser gets the app, served under /riverui/.
	cookie := signIn(t, srv.URL, "tok", nil)
	r = call(t, http.MethodGet, srv.URL+"/riverui/", "", withCookie(cookie, "Accept", "text/html"))
	require.Equal(t, http.StatusOK, r.status)
	require.Contains(t, r.header.Get("Content-Type"), "text/html")
	require.Contains(t, string(r.body), "<title>River</title>")
	require.Contains(t, string(r.body), `"/riverui/favicon.ico"`, "the app is served under its prefix")

	job := createJob(t, srv.URL, "length=12&delay_ms=500")
	watcher := watch(t, srv.URL, job.JobID)
	require.Equal(t, "pending", nextStatus(t, watcher).Status)

	// Its API lists the job (a bearer token works as well as the cookie).
	var list struct {
		Data []struct {
			ID   int64  `json:"id"`
			Kind string `json:"kind"`
		} `json:"data"`
	}
	call(t, http.MethodGet, srv.URL+"/riverui/api/jobs?state=available", "", bearer("tok")).decode(t, &list)
	require.Len(t, list.Data, 1)
	require.Equal(t, job.JobID, strconv.FormatInt(list.Data[0].ID, 10))
	require.Equal(t, "random-text", list.Data[0].Kind)

	// Cancel from River UI: Bespin's watcher gets failed/cancelled, then 1000.
	r = call(t, http.MethodPost, srv.URL+"/riverui/api/jobs/cancel", `{"ids":["`+job.JobID+`"]}`, withCookie(cookie))
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	got := untilTerminal(t, watcher)
	require.Equal(t, "failed", got[len(got)-1].Status)
	require.Equal(t, "cancelled", got[len(got)-1].State)

	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	cancelRequested := func() bool {
		var b bool
		require.NoError(t, conn.QueryRow(ctx, `SELECT metadata ? 'cancel_attempted_at' FROM river_job WHERE id = $1`, job.JobID).Scan(&b))
		return b
	}
	require.True(t, cancelRequested())

	// Retry from River UI: the cancellation request is gone with it, and
	// the job runs to completed once a worker is there.
	r = call(t, http.MethodPost, srv.URL+"/riverui/api/jobs/retry", `{"ids":["`+job.JobID+`"]}`, withCookie(cookie))
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.False(t, cancelRequested(), "River's retry drops the earlier cancellation request")
	watcher = watch(t, srv.URL, job.JobID)
	require.Equal(t, "pending", nextStatus(t, watcher).Status)
	startServer(t, "DATABASE_URL="+dbURL, "API_TOKEN=tok") // a worker
	got = untilTerminal(t, watcher)
	require.Equal(t, []string{"running", "completed"}, statuses(got))

	// Signed out, River UI is closed again.
	call(t, http.MethodDelete, srv.URL+"/api/session", "", withCookie(cookie))
	require.Equal(t, http.StatusUnauthorized, call(t, http.MethodGet, srv.URL+"/riverui/api/jobs", "", withCookie(cookie)).status)
}

// RIVER_UI=false leaves /riverui/ to the API's JSON 404.
func TestRiverUIOff(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "RIVER_UI=false", "RUN_WORKERS=false")
	r := call(t, http.MethodGet, srv.URL+"/riverui/", "", nil)
	require.Equal(t, http.StatusNotFound, r.status)
	require.Equal(t, "not_found", r.errorCode(t))
	var index struct {
		Links map[string]string `json:"links"`
	}
	call(t, http.MethodGet, srv.URL+"/api/", "", nil).decode(t, &index)
	require.NotContains(t, index.Links, "riverui")
	require.True(t, strings.HasPrefix(index.Links["openapi"], "/api/openapi.json"))
}
