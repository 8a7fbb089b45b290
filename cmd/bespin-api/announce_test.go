package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"

	"github.com/bespin/bespin/internal/dbtest"
	"github.com/bespin/bespin/internal/redistest"
	"github.com/bespin/bespin/jobs"
	"github.com/bespin/bespin/realtime"
)

// startWorker runs `bespin-api worker` (River only: no HTTP, no listener)
// on dbURL until the test ends.
func startWorker(t *testing.T, dbURL string, env ...string) *logTail {
	t.Helper()
	_, prefix := redistest.New(t)
	cfg, err := loadConfig(append([]string{
		"DATABASE_URL=" + dbURL, "REDIS_ADDR=" + redistest.Addr(), "REDIS_KEY_PREFIX=" + prefix,
		"LOG_FORMAT=json", "LOG_LEVEL=debug", "SHUTDOWN_TIMEOUT=10s",
	}, env...))
	require.NoError(t, err)
	logs := &logTail{}
	a, err := newWorker(context.Background(), cfg, newLogger(cfg, logs))
	require.NoError(t, err, "building the worker; logs:\n%s", logs)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err, "worker stopped with an error; logs:\n%s", logs)
		case <-time.After(30 * time.Second):
			t.Errorf("worker did not stop within 30s")
		}
	})
	select {
	case <-a.Ready():
	case err := <-done:
		t.Fatalf("worker exited before working: %v\nlogs:\n%s", err, logs)
	}
	return logs
}

// jobNotifications LISTENs on bespin_jobs and returns the states notified
// for each job so far.
func jobNotifications(t *testing.T, dbURL string) func() map[int64][]string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "LISTEN "+realtime.JobChannel)
	require.NoError(t, err)
	var mu sync.Mutex
	seen := map[int64][]string{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			n, err := conn.WaitForNotification(ctx)
			if err != nil {
				return
			}
			var p struct {
				Jobs [][2]json.RawMessage `json:"jobs"`
			}
			if json.Unmarshal([]byte(n.Payload), &p) != nil {
				continue
			}
			mu.Lock()
			for _, pair := range p.Jobs {
				var id int64
				var state string
				_ = json.Unmarshal(pair[0], &id)
				_ = json.Unmarshal(pair[1], &state)
				seen[id] = append(seen[id], state)
			}
			mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); <-done; conn.Close(context.Background()) })
	return func() map[int64][]string {
		mu.Lock()
		defer mu.Unlock()
		out := make(map[int64][]string, len(seen))
		for id, states := range seen {
			out[id] = append([]string(nil), states...)
		}
		return out
	}
}

// A fast job worked by a `worker` process: watchers on two other instances
// see running (the trigger's NOTIFY from River's fetch) then completed
// (the worker's announcer), each notified exactly once.
func TestFastJobSeenRunningThenCompletedOnEveryInstance(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.URL(t)
	notified := jobNotifications(t, dbURL)
	a := startServer(t, "DATABASE_URL="+dbURL, "RUN_WORKERS=false")
	b := startServer(t, "DATABASE_URL="+dbURL, "RUN_WORKERS=false")
	job := createJob(t, a.URL, "length=10")
	onA, onB := watch(t, a.URL, job.JobID), watch(t, b.URL, job.JobID)
	require.Equal(t, "pending", nextStatus(t, onA).Status)
	require.Equal(t, "pending", nextStatus(t, onB).Status)

	startWorker(t, dbURL)
	for _, conn := range []*websocket.Conn{onA, onB} {
		got := untilTerminal(t, conn)
		require.Equal(t, []string{"running", "completed"}, statuses(got))
		var result jobs.RandomTextOutput
		require.NoError(t, json.Unmarshal(got[1].Result, &result))
		require.Len(t, result.Text, 10)
	}

	// A later job's completion arrives after anything still due for the
	// first (notifications are delivered in commit order).
	later := createJob(t, a.URL, "length=1")
	laterID, _ := strconv.ParseInt(later.JobID, 10, 64)
	require.Eventually(t, func() bool {
		return strings.Contains(strings.Join(notified()[laterID], ","), "completed")
	}, 20*time.Second, 10*time.Millisecond)
	id, _ := strconv.ParseInt(job.JobID, 10, 64)
	require.Equal(t, []string{"running", "completed"}, notified()[id], "each change notified once: by the trigger or by the announcer")
}

// Jobs cancelled from outside their worker still reach watchers: a plain
// SQL UPDATE (an operator, or River UI's own queries), and River's
// JobCancel. The worker that later finishes a job cancelled under it does
// not turn it into completed.
func TestJobCancelledFromOutsideReachesWatchers(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.URL(t)
	srv := startServer(t, "DATABASE_URL="+dbURL)
	pool, err := pgxpool.New(context.Background(), dbURL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	require.NoError(t, err)

	runningJob := func(delayMS int) (int64, *websocket.Conn) {
		job := createJob(t, srv.URL, "length=10&delay_ms="+strconv.Itoa(delayMS))
		conn := watch(t, srv.URL, job.JobID)
		for st := nextStatus(t, conn); st.Status != "running"; st = nextStatus(t, conn) {
			require.Equal(t, "pending", st.Status)
		}
		id, _ := strconv.ParseInt(job.JobID, 10, 64)
		return id, conn
	}

	t.Run("SQL UPDATE", func(t *testing.T) {
		id, conn := runningJob(1000)
		_, err := pool.Exec(context.Background(),
			`UPDATE river_job SET state = 'cancelled', finalized_at = now() WHERE id = $1`, id)
		require.NoError(t, err)
		got := untilTerminal(t, conn)
		require.Equal(t, []string{"failed"}, statuses(got))
		require.Equal(t, "cancelled", got[0].State)

		// The worker finishes its delay and tries to complete: River's
		// JobCompleteTx leaves a job that is no longer running as it is
		// (it only records the output).
		require.Eventually(t, func() bool {
			var hasOutput bool
			require.NoError(t, pool.QueryRow(context.Background(),
				`SELECT metadata ? 'output' FROM river_job WHERE id = $1`, id).Scan(&hasOutput))
			return hasOutput
		}, 20*time.Second, 20*time.Millisecond)
		var st jobs.Status
		resp := getJSON(t, srv.URL+"/api/jobs/"+strconv.FormatInt(id, 10), &st)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, "cancelled", st.State)
	})

	t.Run("River JobCancel", func(t *testing.T) {
		id, conn := runningJob(30_000)
		_, err := rc.JobCancel(context.Background(), id)
		require.NoError(t, err)
		got := untilTerminal(t, conn)
		require.Equal(t, []string{"failed"}, statuses(got))
		require.Equal(t, "cancelled", got[0].State)
	})
}

// Killing the announcers' connections: the next NOTIFY fails, the server's
// own watchers re-read their jobs, the announcement is resent on a new
// connection for the other instances, and no final status is lost.
func TestAnnouncerConnectionKilledLosesNoFinalStatus(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.URL(t)
	worker := startServer(t, "DATABASE_URL="+dbURL)
	other := startServer(t, "DATABASE_URL="+dbURL, "RUN_WORKERS=false")

	admin, err := pgx.Connect(context.Background(), dbtest.AdminURL(t))
	require.NoError(t, err)
	defer admin.Close(context.Background())
	dbName := dbURL[strings.LastIndex(dbURL, "/")+1 : strings.Index(dbURL, "?")]
	terminate := func() int {
		var n int
		require.NoError(t, admin.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = $1 AND application_name = $2`, dbName, realtime.AnnouncerApplicationName).Scan(&n))
		return n
	}
	// Both instances' announcers connect at start.
	killed := 0
	require.Eventually(t, func() bool { killed += terminate(); return killed >= 2 }, 10*time.Second, 20*time.Millisecond)

	job := createJob(t, worker.URL, "length=10")
	for _, srv := range []*testServer{worker, other} {
		got := untilTerminal(t, watch(t, srv.URL, job.JobID))
		require.Equal(t, "completed", got[len(got)-1].Status)
	}
	require.Eventually(t, func() bool { return worker.logs.Contains("announce: NOTIFY failed") }, 10*time.Second, 20*time.Millisecond)
}

// 1,000 jobs completed in a burst reach a ?topic=jobs stream exactly once
// each, running before completed.
func TestJobsStreamBurstExactlyOnce(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.URL(t)
	srv := startServer(t, "DATABASE_URL="+dbURL, "RUN_WORKERS=false", "API_TOKEN=s3cret")
	stream, resp, err := websocket.DefaultDialer.Dial(wsURL(srv.URL, "/api/ws?topic=jobs"),
		http.Header{"Authorization": []string{"Bearer s3cret"}})
	require.NoError(t, err)
	resp.Body.Close()
	t.Cleanup(func() { stream.Close() })

	pool, err := pgxpool.New(context.Background(), dbURL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	require.NoError(t, err)
	const n = 1000
	params := make([]river.InsertManyParams, n)
	for i := range params {
		params[i] = river.InsertManyParams{Args: jobs.RandomTextArgs{Length: 10}}
	}
	inserted, err := rc.InsertMany(context.Background(), params)
	require.NoError(t, err)
	seen := map[string][]string{}
	for _, r := range inserted {
		seen[strconv.FormatInt(r.Job.ID, 10)] = nil
	}

	startServer(t, "DATABASE_URL="+dbURL) // the workers
	read := func() jobs.Status {
		t.Helper()
		require.NoError(t, stream.SetReadDeadline(time.Now().Add(30*time.Second)))
		_, data, err := stream.ReadMessage()
		require.NoError(t, err)
		var st jobs.Status
		require.NoError(t, json.Unmarshal(data, &st), string(data))
		return st
	}
	completed := 0
	for completed < n {
		st := read()
		states, ok := seen[st.JobID]
		if !ok {
			continue // the workers' own periodic job (retention)
		}
		seen[st.JobID] = append(states, st.Status)
		if st.Status == "completed" {
			completed++
		}
	}
	// A sentinel completed after all of them: anything still due for the
	// burst (a repeat) would arrive before it.
	sentinel := createJob(t, srv.URL, "length=1")
	for st := read(); st.JobID != sentinel.JobID || st.Status != "completed"; st = read() {
		if states, ok := seen[st.JobID]; ok {
			seen[st.JobID] = append(states, st.Status)
		}
	}
	for id, states := range seen {
		last := states[len(states)-1]
		require.Equal(t, "completed", last, "job %s: %v", id, states)
		require.Contains(t, [][]string{{"completed"}, {"running", "completed"}}, states, "job %s: every change once, in order", id)
	}
}
