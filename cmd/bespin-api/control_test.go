package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/bespin/bespin/internal/dbtest"
	"github.com/bespin/bespin/jobs"
)

type controlResult struct {
	Job     jobs.Status `json:"job"`
	Changed bool        `json:"changed"`
	Message string      `json:"message"`
}

func control(t *testing.T, baseURL, jobID, action, token string) (reply, controlResult) {
	t.Helper()
	r := call(t, http.MethodPost, baseURL+"/api/jobs/"+jobID+"/"+action, "", bearer(token))
	var res controlResult
	if r.status == http.StatusOK {
		r.decode(t, &res)
	}
	return r, res
}

// stream opens ?topic=jobs with token.
func stream(t *testing.T, baseURL, token string) *websocket.Conn {
	t.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial(wsURL(baseURL, "/api/ws?topic=jobs"), bearer(token))
	require.NoError(t, err)
	resp.Body.Close()
	t.Cleanup(func() { conn.Close() })
	return conn
}

// untilState reads a ?topic=jobs stream until job id reaches state.
func untilState(t *testing.T, conn *websocket.Conn, id, state string) jobs.Status {
	t.Helper()
	for {
		st := nextStatus(t, conn)
		if st.JobID == id && st.State == state {
			return st
		}
	}
}

// Cancel, retry and delete a job waiting to run, with a watcher and a
// ?topic=jobs stream looking on: both see every change.
func TestJobControlPending(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.URL(t)
	srv := startServer(t, "DATABASE_URL="+dbURL, "API_TOKEN=tok", "RUN_WORKERS=false")
	job := createJob(t, srv.URL, "length=8")
	watcher := watch(t, srv.URL, job.JobID)
	require.Equal(t, "pending", nextStatus(t, watcher).Status)
	topic := stream(t, srv.URL, "tok")

	r, res := control(t, srv.URL, job.JobID, "cancel", "tok")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.True(t, res.Changed)
	require.Equal(t, "failed", res.Job.Status)
	require.Equal(t, "cancelled", res.Job.State)
	require.Equal(t, job.JobID, res.Job.JobID)
	require.Contains(t, res.Message, "cancelled")
	got := untilTerminal(t, watcher)
	require.Equal(t, "cancelled", got[len(got)-1].State)
	untilState(t, topic, job.JobID, "cancelled")

	_, res = control(t, srv.URL, job.JobID, "cancel", "tok")
	require.False(t, res.Changed, "cancelling a finished job changes nothing")
	require.Contains(t, res.Message, "already finished")
	require.Equal(t, "cancelled", res.Job.State)

	// Retry: pending again now, and run to completed by a worker.
	_, res = control(t, srv.URL, job.JobID, "retry", "tok")
	require.True(t, res.Changed)
	require.Equal(t, "pending", res.Job.Status)
	require.Equal(t, "available", res.Job.State)
	untilState(t, topic, job.JobID, "available")
	_, res = control(t, srv.URL, job.JobID, "retry", "tok")
	require.False(t, res.Changed)
	require.Contains(t, res.Message, "already waiting")
	watcher = watch(t, srv.URL, job.JobID)
	require.Equal(t, "pending", nextStatus(t, watcher).Status)
	startServer(t, "DATABASE_URL="+dbURL) // a worker
	got = untilTerminal(t, watcher)
	require.Equal(t, "completed", got[len(got)-1].Status)
}

// A running job cannot be retried or deleted (409); cancelling it asks it
// to stop, and its watcher gets failed/cancelled.
func TestJobControlRunning(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "API_TOKEN=tok")
	job := createJob(t, srv.URL, "length=8&delay_ms=60000")
	watcher := watch(t, srv.URL, job.JobID)
	for st := nextStatus(t, watcher); st.Status != "running"; st = nextStatus(t, watcher) {
	}

	r, _ := control(t, srv.URL, job.JobID, "retry", "tok")
	require.Equal(t, http.StatusConflict, r.status)
	require.Equal(t, "job_running", r.errorCode(t))
	r = call(t, http.MethodDelete, srv.URL+"/api/jobs/"+job.JobID, "", bearer("tok"))
	require.Equal(t, http.StatusConflict, r.status)
	require.Equal(t, "job_running", r.errorCode(t))

	r, res := control(t, srv.URL, job.JobID, "cancel", "tok")
	require.Equal(t, http.StatusOK, r.status)
	require.True(t, res.Changed)
	require.Equal(t, "running", res.Job.Status, "asked to stop; it ends as cancelled when its worker stops")
	require.Contains(t, res.Message, "asked to stop")
	got := untilTerminal(t, watcher)
	require.Equal(t, "failed", got[len(got)-1].Status)
	require.Equal(t, "cancelled", got[len(got)-1].State)
}

// DELETE removes a job that is not running: 204, its watcher gets
// failed/deleted and 1000, and it is gone.
func TestJobDelete(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "API_TOKEN=tok", "RUN_WORKERS=false")
	job := createJob(t, srv.URL, "length=8")
	watcher := watch(t, srv.URL, job.JobID)
	require.Equal(t, "pending", nextStatus(t, watcher).Status)

	require.Equal(t, http.StatusUnauthorized, call(t, http.MethodDelete, srv.URL+"/api/jobs/"+job.JobID, "", nil).status)
	r := call(t, http.MethodDelete, srv.URL+"/api/jobs/"+job.JobID, "", bearer("tok"))
	require.Equal(t, http.StatusNoContent, r.status, string(r.body))
	got := untilTerminal(t, watcher)
	require.Equal(t, "deleted", got[len(got)-1].State)
	require.Equal(t, http.StatusNotFound, call(t, http.MethodGet, srv.URL+"/api/jobs/"+job.JobID, "", nil).status)
	require.Equal(t, http.StatusNotFound, call(t, http.MethodDelete, srv.URL+"/api/jobs/"+job.JobID, "", bearer("tok")).status)
}

func TestJobControlRequestErrors(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "API_TOKEN=tok", "RUN_WORKERS=false", "RATE_LIMIT_JOBS_PER_MINUTE=1", "RATE_LIMIT_JOBS_BURST=6")
	job := createJob(t, srv.URL, "length=8")

	for _, action := range []string{"cancel", "retry"} {
		r, _ := control(t, srv.URL, job.JobID, action, "wrong")
		require.Equal(t, http.StatusUnauthorized, r.status, action)
		r, _ = control(t, srv.URL, "987654321", action, "tok")
		require.Equal(t, http.StatusNotFound, r.status, action)
		require.Equal(t, "not_found", r.errorCode(t))
	}
	r, _ := control(t, srv.URL, "x", "cancel", "tok")
	require.Equal(t, http.StatusBadRequest, r.status)

	// Control shares job creation's budget per client address (burst 6,
	// all spent above, refused ones included: the limit comes first).
	r, _ = control(t, srv.URL, job.JobID, "cancel", "tok")
	require.Equal(t, http.StatusTooManyRequests, r.status)
	require.Equal(t, "rate_limited", r.errorCode(t))
}

// A replay runs a stored receipt's processing again: 202 with the new
// job, which completes and sets processed_at once more.
func TestWebhookReplay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL := dbtest.URL(t)
	srv := startServer(t, "DATABASE_URL="+dbURL, "API_TOKEN=tok")
	status, created := signedTestDelivery(t, srv.URL, "replay-1")
	require.Equal(t, http.StatusCreated, status)
	id := created["id"].(string)
	processedAt := func() *time.Time {
		var rc struct {
			ProcessedAt *time.Time `json:"processed_at"`
		}
		call(t, http.MethodGet, srv.URL+"/api/webhooks/"+id, "", bearer("tok")).decode(t, &rc)
		return rc.ProcessedAt
	}
	require.Eventually(t, func() bool { return processedAt() != nil }, 30*time.Second, 50*time.Millisecond)
	first := *processedAt()

	r := call(t, http.MethodPost, srv.URL+"/api/webhooks/"+id+"/replay", "", bearer("tok"))
	require.Equal(t, http.StatusAccepted, r.status, string(r.body))
	var accepted struct {
		JobID     string `json:"job_id"`
		ReceiptID string `json:"receipt_id"`
	}
	r.decode(t, &accepted)
	require.Equal(t, id, accepted.ReceiptID)
	require.Equal(t, "/api/jobs/"+accepted.JobID, r.header.Get("Location"))

	got := untilTerminal(t, watch(t, srv.URL, accepted.JobID))
	final := got[len(got)-1]
	require.Equal(t, "completed", final.Status)
	require.Equal(t, "process-webhook", final.Kind)
	again := processedAt()
	require.NotNil(t, again)
	require.True(t, again.After(first), "processed_at set again: %s, then %s", first, again)

	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var jobsForReceipt int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'process-webhook' AND args->>'receipt_id' = $1 AND state = 'completed'`, id).Scan(&jobsForReceipt))
	require.Equal(t, 2, jobsForReceipt, "the original job and the replay")

	require.Equal(t, http.StatusUnauthorized, call(t, http.MethodPost, srv.URL+"/api/webhooks/"+id+"/replay", "", nil).status)
	require.Equal(t, http.StatusNotFound, call(t, http.MethodPost, srv.URL+"/api/webhooks/00000000-0000-4000-8000-000000000000/replay", "", bearer("tok")).status)
	r = call(t, http.MethodPost, srv.URL+"/api/webhooks/nope/replay", "", bearer("tok"))
	require.Equal(t, http.StatusBadRequest, r.status)
	require.Equal(t, "invalid_id", r.errorCode(t))
}
