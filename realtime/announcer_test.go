package realtime

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/bespin/bespin/internal/dbtest"
	"github.com/bespin/bespin/store"
)

// runAnnouncer runs an announcer on dbURL until the test ends.
func runAnnouncer(t *testing.T, dbURL string, onFailure func()) *Announcer {
	t.Helper()
	cc, err := pgx.ParseConfig(dbURL)
	require.NoError(t, err)
	a := NewAnnouncer(AnnouncerConfig{
		ConnConfig: cc, Logger: discardLogger(), OnFailure: onFailure,
		BackoffMin: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return a
}

// completeAnnounced moves a job to running (notified by the trigger) and
// then completes it the way a worker does: in a transaction that names the
// job in bespin.announced_jobs, so the trigger stays silent about it.
func (b *testBundle) completeAnnounced(t *testing.T, id int64) {
	t.Helper()
	ctx := context.Background()
	tx, err := b.pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx) //nolint:errcheck
	require.NoError(t, store.New(tx).MarkJobsAnnounced(ctx, id))
	_, err = tx.Exec(ctx, `UPDATE river_job SET state = 'completed', finalized_at = now(),
		metadata = jsonb_build_object('output', jsonb_build_object('text', 'ab', 'length', 2)) WHERE id = $1`, id)
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
}

// What the announcer sends on bespin_jobs is the triggers' format, split
// into payloads under NOTIFY's limit, in the order announced.
func TestAnnouncerJobPayloads(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	next := listen(t, pool.Config().ConnString())
	a := runAnnouncer(t, pool.Config().ConnString(), nil)
	const n = 700 // several payloads' worth
	for i := range n {
		a.AnnounceJob(int64(1_000_000_000+i), rivertype.JobStateCompleted)
	}
	var got [][2]any
	for len(got) < n {
		ns := next(1)
		require.Greater(t, ns[0].At, float64(time.Now().Add(-time.Minute).Unix()))
		got = append(got, pairs(t, ns)...)
	}
	require.Len(t, got, n)
	for i, p := range got {
		require.Equal(t, [2]any{int64(1_000_000_000 + i), "completed"}, p)
	}
}

// The triggers leave out exactly the jobs a transaction announces itself,
// and only in that transaction.
func TestTriggerSkipsAnnouncedJobs(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	next := listen(t, b.dbURL)
	ctx := context.Background()
	id1, id2 := b.insertJob(t), b.insertJob(t)

	tx, err := b.pool.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, store.New(tx).MarkJobsAnnounced(ctx, id1))
	_, err = tx.Exec(ctx, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = now()`)
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
	require.Equal(t, [][2]any{{id2, "running"}}, pairs(t, next(1)))

	// The setting ended with its transaction: the same connections notify
	// every change again.
	b.exec(t, `UPDATE river_job SET state = 'completed', finalized_at = now()`)
	require.Equal(t, [][2]any{{id1, "completed"}, {id2, "completed"}}, pairs(t, next(1)))
}

// A completion the server announces is read like a trigger's notification:
// the watcher sees running (trigger) then completed (announcer).
func TestWatchAnnouncedCompletion(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	a := runAnnouncer(t, b.dbURL, b.listener.Resync)
	id := b.insertJob(t)
	conn := dial(t, b.url+"?job_id="+strconv.FormatInt(id, 10))
	require.Equal(t, "pending", readStatus(t, conn).Status)

	b.exec(t, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = now() WHERE id = $1`, id)
	b.completeAnnounced(t, id)
	a.AnnounceJob(id, rivertype.JobStateCompleted)

	require.Equal(t, "running", readStatus(t, conn).Status)
	st := readStatus(t, conn)
	require.Equal(t, "completed", st.Status)
	require.JSONEq(t, `{"text": "ab", "length": 2}`, string(st.Result))
	requireClose(t, conn, websocket.CloseNormalClosure)
}

// The announcement of a completion and the trigger's "running" come from
// different connections. Postgres delivers notifications in commit order,
// and the announcement is sent only after the completion committed, which
// is after the fetch that made the job running; but even if they arrived
// the other way round, the watcher would see running, then completed, and
// nothing after it.
func TestWatchCompletionAnnouncedBeforeRunning(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	id := b.insertJob(t)
	conn := dial(t, b.url+"?job_id="+strconv.FormatInt(id, 10))
	require.Equal(t, "pending", readStatus(t, conn).Status)

	// Fetch and completion both silent, then the two notifications, the
	// announcer's first.
	ctx := context.Background()
	tx, err := b.pool.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, store.New(tx).MarkJobsAnnounced(ctx, id))
	_, err = tx.Exec(ctx, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = now() WHERE id = $1`, id)
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
	b.completeAnnounced(t, id)
	payload := func(state string) string {
		return `{"at": 1, "jobs": [[` + strconv.FormatInt(id, 10) + `, "` + state + `"]]}`
	}
	b.exec(t, `SELECT pg_notify($1, $2)`, JobChannel, payload("completed"))
	b.exec(t, `SELECT pg_notify($1, $2)`, JobChannel, payload("running"))

	require.Equal(t, "running", readStatus(t, conn).Status)
	require.Equal(t, "completed", readStatus(t, conn).Status)
	requireClose(t, conn, websocket.CloseNormalClosure)
}

// The announcer cannot reach Postgres when it has a completion to send:
// the server's own watchers re-read their jobs at once (OnFailure resyncs
// the listener), and the announcement is sent once Postgres is back.
func TestAnnouncerFailureResyncsWatchers(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	proxy, viaProxy := dbtest.NewProxy(t, b.dbURL)
	a := runAnnouncer(t, viaProxy, b.listener.Resync)
	next := listen(t, b.dbURL)
	id := b.insertJob(t)
	conn := dial(t, b.url+"?job_id="+strconv.FormatInt(id, 10))
	require.Equal(t, "pending", readStatus(t, conn).Status)
	b.exec(t, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = now() WHERE id = $1`, id)
	require.Equal(t, "running", readStatus(t, conn).Status)
	require.Equal(t, [][2]any{{id, "running"}}, pairs(t, next(1)))

	proxy.Down()
	b.completeAnnounced(t, id)
	a.AnnounceJob(id, rivertype.JobStateCompleted)
	require.Equal(t, "completed", readStatus(t, conn).Status)
	requireClose(t, conn, websocket.CloseNormalClosure)

	// Other instances hear of it once the announcer gets through.
	proxy.Up()
	require.Equal(t, [][2]any{{id, "completed"}}, pairs(t, next(1)))
}

// Every NOTIFY failure is followed by a resend on a new connection: a
// listener elsewhere receives every announcement.
func TestAnnouncerResendsAfterConnectionKilled(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	dbURL := pool.Config().ConnString()
	next := listen(t, dbURL)
	failed := make(chan struct{}, 10)
	a := runAnnouncer(t, dbURL, func() { failed <- struct{}{} })
	a.AnnounceJob(1, rivertype.JobStateCompleted)
	require.Equal(t, [][2]any{{int64(1), "completed"}}, pairs(t, next(1)))

	ctx := context.Background()
	var killed int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = $1`, AnnouncerApplicationName).Scan(&killed))
	require.Equal(t, 1, killed)

	a.AnnounceJob(2, rivertype.JobStateCompleted)
	require.Equal(t, [][2]any{{int64(2), "completed"}}, pairs(t, next(1)))
	select {
	case <-failed:
	case <-time.After(10 * time.Second):
		t.Fatal("the failed NOTIFY was not reported")
	}
}
