package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"

	"github.com/bespin/bespin/internal/dbtest"
	"github.com/bespin/bespin/jobs"
	"github.com/bespin/bespin/realtime"
)

type createdJob struct {
	JobID      string `json:"job_id"`
	Status     string `json:"status"`
	Kind       string `json:"kind"`
	WatchToken string `json:"watch_token"`
}

func createJob(t *testing.T, baseURL, query string) createdJob {
	t.Helper()
	resp, err := http.Post(baseURL+"/api/jobs/random-text?"+query, "", nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	var c createdJob
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&c))
	require.Equal(t, "/api/jobs/"+c.JobID, resp.Header.Get("Location"))
	require.Equal(t, "pending", c.Status)
	require.Equal(t, "random-text", c.Kind)
	require.Len(t, c.WatchToken, 43, "32 random bytes, base64url")
	return c
}

func wsURL(baseURL, pathAndQuery string) string {
	return "ws" + strings.TrimPrefix(baseURL, "http") + pathAndQuery
}

func watch(t *testing.T, baseURL, jobID string) *websocket.Conn {
	t.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial(wsURL(baseURL, "/api/ws?job_id="+jobID), nil)
	require.NoError(t, err)
	resp.Body.Close()
	t.Cleanup(func() { conn.Close() })
	return conn
}

func nextStatus(t *testing.T, conn *websocket.Conn) jobs.Status {
	t.Helper()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(20*time.Second)))
	_, data, err := conn.ReadMessage()
	require.NoError(t, err)
	var st jobs.Status
	require.NoError(t, json.Unmarshal(data, &st), string(data))
	require.Equal(t, "job_status", st.Type)
	return st
}

// untilTerminal reads statuses until a terminal one, checking they never
// go back, and then expects close 1000.
func untilTerminal(t *testing.T, conn *websocket.Conn) []jobs.Status {
	t.Helper()
	var got []jobs.Status
	for {
		st := nextStatus(t, conn)
		got = append(got, st)
		if st.Terminal() {
			break
		}
	}
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, _, err := conn.ReadMessage()
	require.True(t, websocket.IsCloseError(err, websocket.CloseNormalClosure), "want close 1000 after %q, got %v", got[len(got)-1].Status, err)
	return got
}

func statuses(sts []jobs.Status) []string {
	var out []string
	for _, s := range sts {
		out = append(out, s.Status)
	}
	return out
}

// A watcher sees pending → running → completed with the text, then 1000;
// a watcher that comes later gets completed at once.
func TestJobLifecycleOverWebSocket(t *testing.T) {
	t.Parallel()
	// River picks a job up within milliseconds; workers start only once
	// the watcher has seen it pending.
	dbURL := dbtest.URL(t)
	srv := startServer(t, "DATABASE_URL="+dbURL, "RUN_WORKERS=false")
	job := createJob(t, srv.URL, "length=64&delay_ms=300")
	conn := watch(t, srv.URL, job.JobID)
	first := nextStatus(t, conn)
	require.Equal(t, "pending", first.Status)
	require.Equal(t, "available", first.State)
	require.Equal(t, "random-text", first.Kind)
	require.Equal(t, job.JobID, first.JobID)
	startServer(t, "DATABASE_URL="+dbURL)
	got := untilTerminal(t, conn)
	require.Equal(t, []string{"running", "completed"}, statuses(got))
	final := got[len(got)-1]
	var result jobs.RandomTextOutput
	require.NoError(t, json.Unmarshal(final.Result, &result))
	require.Len(t, result.Text, 64)
	require.Equal(t, 64, result.Length)
	require.Equal(t, 1, final.Attempt)
	require.Equal(t, "completed", final.State)

	late := watch(t, srv.URL, job.JobID)
	require.Equal(t, []string{"completed"}, statuses(untilTerminal(t, late)))

	var viaREST jobs.Status
	resp := getJSON(t, srv.URL+"/api/jobs/"+job.JobID, &viaREST)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "completed", viaREST.Status)
	require.JSONEq(t, string(final.Result), string(viaREST.Result))
}

// A job created through instance A is watched on instance B, and worked
// by instance C, started after B's watcher connected (so the watcher sees
// it pending first). Neither A nor B works jobs: everything B's watcher
// sees after the first status came through NOTIFY.
func TestJobWatchedOnAnotherInstance(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.URL(t)
	a := startServer(t, "DATABASE_URL="+dbURL, "RUN_WORKERS=false")
	b := startServer(t, "DATABASE_URL="+dbURL, "RUN_WORKERS=false")
	job := createJob(t, a.URL, "length=10&delay_ms=300")
	conn := watch(t, b.URL, job.JobID)
	require.Equal(t, "pending", nextStatus(t, conn).Status)
	startServer(t, "DATABASE_URL="+dbURL) // C, the worker
	require.Equal(t, []string{"running", "completed"}, statuses(untilTerminal(t, conn)))
}

// Killing the listener's backend while a job runs: the listener reconnects,
// re-reads, and the watcher still gets completed.
func TestWatcherSurvivesListenerTermination(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.URL(t)
	srv := startServer(t, "DATABASE_URL="+dbURL)
	job := createJob(t, srv.URL, "length=10&delay_ms=1500")
	conn := watch(t, srv.URL, job.JobID)
	// The job may already be running when the watcher connects.
	require.Contains(t, []string{"pending", "running"}, nextStatus(t, conn).Status)

	admin, err := pgx.Connect(context.Background(), dbtest.AdminURL(t))
	require.NoError(t, err)
	defer admin.Close(context.Background())
	dbName := dbURL[strings.LastIndex(dbURL, "/")+1 : strings.Index(dbURL, "?")]
	terminate := func() int {
		var n int
		require.NoError(t, admin.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = $1 AND application_name = $2`, dbName, realtime.ListenerApplicationName).Scan(&n))
		return n
	}
	require.Eventually(t, func() bool { return terminate() == 1 }, 10*time.Second, 20*time.Millisecond)

	var last jobs.Status
	for !last.Terminal() {
		last = nextStatus(t, conn)
	}
	require.Equal(t, "completed", last.Status)
	require.Eventually(t, func() bool { return srv.logs.Contains("listener reconnected") }, 10*time.Second, 20*time.Millisecond)
}

// Cancelling a running job with River's client: the watcher gets failed,
// state cancelled.
func TestWatchedJobCancelled(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.URL(t)
	srv := startServer(t, "DATABASE_URL="+dbURL)
	job := createJob(t, srv.URL, "length=10&delay_ms=30000")
	conn := watch(t, srv.URL, job.JobID)
	st := nextStatus(t, conn)
	for st.Status != "running" {
		st = nextStatus(t, conn)
	}

	pool, err := pgxpool.New(context.Background(), dbURL)
	require.NoError(t, err)
	defer pool.Close()
	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	require.NoError(t, err)
	id, _ := strconv.ParseInt(job.JobID, 10, 64)
	_, err = rc.JobCancel(context.Background(), id)
	require.NoError(t, err)

	got := untilTerminal(t, conn)
	final := got[len(got)-1]
	require.Equal(t, "failed", final.Status)
	require.Equal(t, "cancelled", final.State)
	require.NotNil(t, final.Error)
}

func TestJobRequestErrors(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "ALLOWED_ORIGINS=https://app.example.com", "API_TOKEN=s3cret")
	job := createJob(t, srv.URL, "")

	post := func(query string) (int, errorResponse) {
		resp, err := http.Post(srv.URL+"/api/jobs/random-text?"+query, "", nil)
		require.NoError(t, err)
		defer resp.Body.Close()
		var e errorResponse
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&e))
		return resp.StatusCode, e
	}
	for _, tc := range []struct{ query, mentions string }{
		{"length=0", "length must be a whole number from 1 to 100000"},
		{"length=100001", "length"},
		{"length=abc", "length"},
		{"delay_ms=-1", "delay_ms must be a whole number from 0 to 60000"},
		{"delay_ms=60001", "delay_ms"},
	} {
		status, e := post(tc.query)
		require.Equal(t, http.StatusBadRequest, status, tc.query)
		require.Equal(t, "invalid_parameter", e.Error.Code)
		require.Contains(t, e.Error.Message, tc.mentions)
	}

	var e errorResponse
	resp := getJSON(t, srv.URL+"/api/jobs/abc", &e)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	resp = getJSON(t, srv.URL+"/api/jobs/0", &e)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	resp = getJSON(t, srv.URL+"/api/jobs/987654321", &e)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Equal(t, "not_found", e.Error.Code)

	// WebSocket refusals are JSON errors before any upgrade.
	dialStatus := func(path string, header http.Header) int {
		conn, resp, err := websocket.DefaultDialer.Dial(wsURL(srv.URL, path), header)
		if err == nil {
			conn.Close()
			return http.StatusSwitchingProtocols
		}
		require.NotNil(t, resp, "dial %s: %v", path, err)
		defer resp.Body.Close()
		require.Contains(t, resp.Header.Get("Content-Type"), "application/json")
		return resp.StatusCode
	}
	origin := func(o string) http.Header { return http.Header{"Origin": []string{o}} }
	auth := bearer("s3cret")
	require.Equal(t, http.StatusBadRequest, dialStatus("/api/ws", nil))
	require.Equal(t, http.StatusBadRequest, dialStatus("/api/ws?job_id=x1", nil))
	require.Equal(t, http.StatusBadRequest, dialStatus("/api/ws/jobs?job_id=-5", nil))
	require.Equal(t, http.StatusNotFound, dialStatus("/api/ws?job_id=987654321", nil))
	require.Equal(t, http.StatusNotFound, dialStatus("/api/ws/jobs?job_id=987654321", nil))
	require.Equal(t, http.StatusForbidden, dialStatus("/api/ws?job_id="+job.JobID, origin("https://evil.example.com")))
	require.Equal(t, http.StatusSwitchingProtocols, dialStatus("/api/ws?job_id="+job.JobID, origin("https://app.example.com")))
	require.Equal(t, http.StatusSwitchingProtocols, dialStatus("/api/ws/jobs?job_id="+job.JobID, origin("http://localhost:5173")))
	require.Equal(t, http.StatusSwitchingProtocols, dialStatus("/api/ws?job_id="+job.JobID, nil))
	require.Equal(t, http.StatusUnauthorized, dialStatus("/api/ws?topic=jobs", nil))
	require.Equal(t, http.StatusBadRequest, dialStatus("/api/ws?topic=nope", auth))
	require.Equal(t, http.StatusBadRequest, dialStatus("/api/ws?topic=jobs&job_id=1", auth))
	require.Equal(t, http.StatusSwitchingProtocols, dialStatus("/api/ws?topic=jobs", auth))
	require.Equal(t, http.StatusSwitchingProtocols, dialStatus("/api/ws?topic=jobs&token=s3cret", nil))

	// An unknown topic is told the streams there are.
	resp = getJSON(t, srv.URL+"/api/ws?topic=nope&token=s3cret", &e)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, e.Error.Message, "the streams are jobs, webhooks")

	// A plain GET of a WebSocket endpoint: a JSON 426 that says what it is.
	resp = getJSON(t, srv.URL+"/api/ws?job_id="+job.JobID, &e)
	require.Equal(t, http.StatusUpgradeRequired, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Content-Type"), "application/json")
	require.Equal(t, "websocket", resp.Header.Get("Upgrade"))
	require.Equal(t, "websocket_required", e.Error.Code)
	require.Contains(t, e.Error.Message, "GET /api/jobs/"+job.JobID)
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/ws?job_id="+job.JobID, nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "8")
	bad, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.NoError(t, json.NewDecoder(bad.Body).Decode(&e))
	bad.Body.Close()
	require.Equal(t, http.StatusBadRequest, bad.StatusCode)
	require.Contains(t, e.Error.Message, "Sec-WebSocket-Version")
}

// Job parameters come in the query string or a JSON body, and nothing a
// client sends is silently ignored; reading or creating the wrong way is
// told what to do instead.
func TestJobCreationParameters(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	post := func(path, contentType, body string) (int, http.Header, []byte) {
		resp, err := http.Post(srv.URL+path, contentType, strings.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, resp.Header, data
	}
	errorOf := func(data []byte) errorResponse {
		var e errorResponse
		require.NoError(t, json.Unmarshal(data, &e), string(data))
		return e
	}

	// A JSON body sets the parameters.
	status, _, data := post("/api/jobs/random-text", "application/json", `{"length": 50}`)
	require.Equal(t, http.StatusAccepted, status, string(data))
	var c createdJob
	require.NoError(t, json.Unmarshal(data, &c))
	final := untilTerminal(t, watch(t, srv.URL, c.JobID))
	require.Equal(t, "completed", final[len(final)-1].Status)
	require.JSONEq(t, `50`, string(mustField(t, final[len(final)-1].Result, "length")))

	for _, tc := range []struct {
		name, path, contentType, body string
		status                        int
		code, mentions                string
	}{
		{"curl -d's form type on JSON", "/api/jobs/random-text", "application/x-www-form-urlencoded", `{"length":50}`, 415, "unsupported_media_type", "Content-Type: application/json"},
		{"no content type", "/api/jobs/random-text", "", `{"length":50}`, 415, "unsupported_media_type", "no Content-Type"},
		{"unknown field", "/api/jobs/random-text", "application/json", `{"length":50,"colour":"red"}`, 400, "invalid_parameter", `"colour"`},
		{"unknown query parameter", "/api/jobs/random-text?lenght=50", "", "", 400, "invalid_parameter", `"lenght"`},
		{"given twice", "/api/jobs/random-text?length=5", "application/json", `{"length":50}`, 400, "invalid_parameter", "both in the query string and in the body"},
		{"not a number", "/api/jobs/random-text", "application/json", `{"length":"fifty"}`, 400, "invalid_parameter", "length must be a whole number from 1 to 100000"},
		{"not an object", "/api/jobs/random-text", "application/json", `[50]`, 400, "invalid_json", "JSON object"},
		{"unknown kind", "/api/jobs/other-kind", "", "", 404, "unknown_job_kind", "random-text"},
	} {
		status, _, data := post(tc.path, tc.contentType, tc.body)
		require.Equal(t, tc.status, status, "%s: %s", tc.name, data)
		e := errorOf(data)
		require.Equal(t, tc.code, e.Error.Code, tc.name)
		require.Contains(t, e.Error.Message, tc.mentions, tc.name)
	}

	// GET on the creation endpoint says that POST creates.
	var e errorResponse
	resp := getJSON(t, srv.URL+"/api/jobs/random-text", &e)
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	require.Equal(t, "POST", resp.Header.Get("Allow"))
	require.Contains(t, e.Error.Message, "POST /api/jobs/random-text creates a job")
}

func mustField(t *testing.T, doc json.RawMessage, name string) json.RawMessage {
	t.Helper()
	var obj map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(doc, &obj), string(doc))
	return obj[name]
}

// Production allows only ALLOWED_ORIGINS (and the page's own host).
func TestWebSocketOriginInProduction(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "BESPIN_ENV=production", "API_TOKEN=t", "ALLOWED_ORIGINS=https://app.example.com")
	job := createJob(t, srv.URL, "")
	_, resp, err := websocket.DefaultDialer.Dial(wsURL(srv.URL, "/api/ws?job_id="+job.JobID), http.Header{"Origin": []string{"http://localhost:5173"}})
	require.Error(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
}

func TestJobCreationRateLimited(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "RATE_LIMIT_JOBS_PER_MINUTE=1", "RATE_LIMIT_JOBS_BURST=3")
	for range 3 {
		createJob(t, srv.URL, "length=1")
	}
	resp, err := http.Post(srv.URL+"/api/jobs/random-text", "", nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	require.NotEmpty(t, resp.Header.Get("Retry-After"))
	require.Equal(t, "3", resp.Header.Get("RateLimit-Limit"))
	require.Equal(t, "0", resp.Header.Get("RateLimit-Remaining"))
	var e errorResponse
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&e))
	require.Equal(t, "rate_limited", e.Error.Code)
}

func TestListJobs(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "API_TOKEN=s3cret", "RUN_WORKERS=false")
	var ids []string
	for range 5 {
		ids = append(ids, createJob(t, srv.URL, "length=3").JobID)
	}
	get := func(query string, into any) int {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/jobs"+query, nil)
		req.Header.Set("Authorization", "Bearer s3cret")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.NoError(t, json.NewDecoder(resp.Body).Decode(into))
		return resp.StatusCode
	}
	type page struct {
		Jobs       []jobs.Status `json:"jobs"`
		NextCursor *string       `json:"next_cursor"`
	}
	var seen []string
	cursor := ""
	for {
		var p page
		require.Equal(t, http.StatusOK, get("?limit=2&state=pending&kind=random-text"+cursor, &p))
		for _, j := range p.Jobs {
			seen = append(seen, j.JobID)
			require.Equal(t, "pending", j.Status)
		}
		if p.NextCursor == nil {
			break
		}
		cursor = "&cursor=" + *p.NextCursor
	}
	require.Equal(t, []string{ids[4], ids[3], ids[2], ids[1], ids[0]}, seen, "newest first, every job once")

	var p page
	require.Equal(t, http.StatusOK, get("?state=completed", &p))
	require.Empty(t, p.Jobs)
	require.Equal(t, http.StatusOK, get("?kind=other", &p))
	require.Empty(t, p.Jobs)

	var e errorResponse
	require.Equal(t, http.StatusBadRequest, get("?state=bogus", &e))
	require.Contains(t, e.Error.Message, "state")
	require.Equal(t, http.StatusBadRequest, get("?cursor=nope", &e))
	require.Equal(t, http.StatusBadRequest, get("?limit=501", &e))

	resp := getJSON(t, srv.URL+"/api/jobs", &e)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	var test map[string]string
	resp = getJSON(t, srv.URL+"/api/jobs/test", &test)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "ok", test["status"])
}

// Shutdown closes WebSockets with 1001.
func TestShutdownClosesWebSockets(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "RUN_WORKERS=false")
	job := createJob(t, srv.URL, "")
	conn := watch(t, srv.URL, job.JobID)
	require.Equal(t, "pending", nextStatus(t, conn).Status)
	errc := make(chan error, 1)
	go func() { errc <- srv.stop() }()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(15*time.Second)))
	_, _, err := conn.ReadMessage()
	require.True(t, websocket.IsCloseError(err, websocket.CloseGoingAway), fmt.Sprint(err))
	require.NoError(t, <-errc)
}
