package realtime

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/bespin/bespin/internal/dbtest"
	"github.com/bespin/bespin/jobs"
	"github.com/bespin/bespin/metrics"
	"github.com/bespin/bespin/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type testBundle struct {
	dbURL    string
	proxy    *dbtest.Proxy
	pool     *pgxpool.Pool
	hub      *Hub
	feed     *JobFeed
	listener *Listener
	metrics  *metrics.Metrics
	server   *Server
	url      string // ws://.../ws?job_id= or ?topic=
	river    *river.Client[pgx.Tx]
}

type setupOpts struct {
	proxyListener bool // connect the listener through a dbtest.Proxy (b.proxy)
	serverCfg     func(*ServerConfig)
	extraFeed     func(*Hub, *Listener)
}

// setup runs a listener, a job feed and a WebSocket server (on httptest)
// against a fresh database. Everything stops when t ends.
func setup(t *testing.T, opts setupOpts) *testBundle {
	t.Helper()
	dbURL := dbtest.URL(t)
	pool, err := pgxpool.New(context.Background(), dbURL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)

	logger := discardLogger()
	m := metrics.New()
	hub := NewHub()
	feed := NewJobFeed(store.New(pool), hub, logger, m)

	listenURL := dbURL
	var proxy *dbtest.Proxy
	if opts.proxyListener {
		proxy, listenURL = dbtest.NewProxy(t, dbURL)
	}
	cc, err := pgx.ParseConfig(listenURL)
	require.NoError(t, err)
	listener := NewListener(ListenerConfig{ConnConfig: cc, Logger: logger, Metrics: m, BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond})
	feed.AttachTo(listener)
	if opts.extraFeed != nil {
		opts.extraFeed(hub, listener)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); listener.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	// Changes made before the listener LISTENs are only seen by its resync;
	// tests that expect every step wait for it.
	select {
	case <-listener.Connected():
	case <-time.After(10 * time.Second):
		t.Fatal("the listener did not connect within 10s")
	}

	cfg := ServerConfig{Hub: hub, Jobs: feed, Logger: logger, Metrics: m}
	if opts.serverCfg != nil {
		opts.serverCfg(&cfg)
	}
	srv := NewServer(cfg)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		adm, err := srv.Admit(peer(r))
		if err != nil {
			http.Error(w, err.Error(), http.StatusTooManyRequests)
			return
		}
		if topic := r.URL.Query().Get("topic"); topic != "" {
			srv.ServeTopic(w, r, adm, topic)
			return
		}
		id, _ := strconv.ParseInt(r.URL.Query().Get("job_id"), 10, 64)
		srv.ServeJob(w, r, adm, id, "random-text")
	}))
	t.Cleanup(func() {
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, srv.Shutdown(shutdownCtx))
		ts.Close()
	})

	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Logger: logger})
	require.NoError(t, err)
	return &testBundle{proxy: proxy, dbURL: dbURL, pool: pool, hub: hub, feed: feed, listener: listener, metrics: m, server: srv,
		url: "ws" + strings.TrimPrefix(ts.URL, "http") + "/ws", river: rc}
}

// insertJob inserts a random-text job (no worker runs in these tests; the
// tests move jobs through their states with SQL or River's client).
func (b *testBundle) insertJob(t *testing.T) int64 {
	t.Helper()
	res, err := b.river.Insert(context.Background(), jobs.RandomTextArgs{Length: 10}, nil)
	require.NoError(t, err)
	return res.Job.ID
}

func (b *testBundle) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	_, err := b.pool.Exec(context.Background(), sql, args...)
	require.NoError(t, err)
}

func dial(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial(url, nil)
	require.NoError(t, err)
	resp.Body.Close()
	t.Cleanup(func() { conn.Close() })
	return conn
}

func readStatus(t *testing.T, conn *websocket.Conn) jobs.Status {
	t.Helper()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	var st jobs.Status
	_, data, err := conn.ReadMessage()
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &st), string(data))
	return st
}

func requireClose(t *testing.T, conn *websocket.Conn, code int) {
	t.Helper()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, _, err := conn.ReadMessage()
	require.True(t, websocket.IsCloseError(err, code), "want close %d, got %v", code, err)
}

// A watcher gets the current status, then each change in order, then 1000.
func TestWatchJobThroughStates(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	id := b.insertJob(t)
	conn := dial(t, b.url+"?job_id="+strconv.FormatInt(id, 10))

	st := readStatus(t, conn)
	require.Equal(t, "pending", st.Status)
	require.Equal(t, "available", st.State)
	require.Equal(t, "random-text", st.Kind)

	b.exec(t, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = now() WHERE id = $1`, id)
	st = readStatus(t, conn)
	require.Equal(t, "running", st.Status)
	require.Equal(t, 1, st.Attempt)

	b.exec(t, `UPDATE river_job SET state = 'completed', finalized_at = now(),
		metadata = jsonb_build_object('output', jsonb_build_object('text', 'abc', 'length', 3)) WHERE id = $1`, id)
	st = readStatus(t, conn)
	require.Equal(t, "completed", st.Status)
	require.JSONEq(t, `{"text": "abc", "length": 3}`, string(st.Result))
	require.Nil(t, st.Error)
	requireClose(t, conn, websocket.CloseNormalClosure)
}

// A job that finishes before its "running" notification is read still
// shows running first: the notification proves it ran.
func TestWatchJobSeesRunningOfAFastJob(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	id := b.insertJob(t)
	conn := dial(t, b.url+"?job_id="+strconv.FormatInt(id, 10))
	require.Equal(t, "pending", readStatus(t, conn).Status)

	tx, err := b.pool.Begin(context.Background())
	require.NoError(t, err)
	defer tx.Rollback(context.Background()) //nolint:errcheck
	// Two statements, two notifications, one commit: by the time the first
	// is read the row is already completed.
	_, err = tx.Exec(context.Background(), `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = now() WHERE id = $1`, id)
	require.NoError(t, err)
	_, err = tx.Exec(context.Background(), `UPDATE river_job SET state = 'completed', finalized_at = now() WHERE id = $1`, id)
	require.NoError(t, err)
	require.NoError(t, tx.Commit(context.Background()))

	require.Equal(t, "running", readStatus(t, conn).Status)
	require.Equal(t, "completed", readStatus(t, conn).Status)
	requireClose(t, conn, websocket.CloseNormalClosure)
}

// Every way River changes a job reaches watchers: failed and retried,
// discarded, cancelled with JobCancel, deleted.
func TestWatchJobEveryStatePath(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ctx := context.Background()

	t.Run("retried then discarded", func(t *testing.T) {
		id := b.insertJob(t)
		conn := dial(t, b.url+"?job_id="+strconv.FormatInt(id, 10))
		require.Equal(t, "available", readStatus(t, conn).State)
		b.exec(t, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = now() WHERE id = $1`, id)
		require.Equal(t, "running", readStatus(t, conn).State)
		b.exec(t, `UPDATE river_job SET state = 'retryable',
			errors = ARRAY[jsonb_build_object('at', now(), 'attempt', 1, 'error', 'boom 1', 'trace', '')] WHERE id = $1`, id)
		st := readStatus(t, conn)
		require.Equal(t, "retryable", st.State)
		require.Equal(t, "pending", st.Status)
		b.exec(t, `UPDATE river_job SET state = 'available' WHERE id = $1`, id)
		require.Equal(t, "available", readStatus(t, conn).State)
		b.exec(t, `UPDATE river_job SET state = 'running', attempt = 2, attempted_at = now() WHERE id = $1`, id)
		st = readStatus(t, conn)
		require.Equal(t, "running", st.State)
		require.Equal(t, 2, st.Attempt)
		b.exec(t, `UPDATE river_job SET state = 'discarded', finalized_at = now(),
			errors = errors || jsonb_build_object('at', now(), 'attempt', 2, 'error', 'boom 2', 'trace', '') WHERE id = $1`, id)
		st = readStatus(t, conn)
		require.Equal(t, "failed", st.Status)
		require.Equal(t, "discarded", st.State)
		require.NotNil(t, st.Error)
		require.Equal(t, "boom 2", *st.Error)
		requireClose(t, conn, websocket.CloseNormalClosure)
	})

	t.Run("cancelled", func(t *testing.T) {
		id := b.insertJob(t)
		conn := dial(t, b.url+"?job_id="+strconv.FormatInt(id, 10))
		require.Equal(t, "available", readStatus(t, conn).State)
		_, err := b.river.JobCancel(ctx, id)
		require.NoError(t, err)
		st := readStatus(t, conn)
		require.Equal(t, "failed", st.Status)
		require.Equal(t, "cancelled", st.State)
		requireClose(t, conn, websocket.CloseNormalClosure)
	})

	t.Run("deleted", func(t *testing.T) {
		id := b.insertJob(t)
		conn := dial(t, b.url+"?job_id="+strconv.FormatInt(id, 10))
		require.Equal(t, "available", readStatus(t, conn).State)
		_, err := b.river.JobDelete(ctx, id)
		require.NoError(t, err)
		st := readStatus(t, conn)
		require.Equal(t, "failed", st.Status)
		require.Equal(t, jobs.StateDeleted, st.State)
		require.Equal(t, "random-text", st.Kind)
		requireClose(t, conn, websocket.CloseNormalClosure)
	})
}

// The listener loses Postgres while the job runs and finishes; after
// reconnecting it re-reads the watched job, so the final status still
// arrives although its notifications were sent while nobody listened, and
// "running" comes first: the row proves the job ran.
func TestListenerResyncsAfterOutage(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{proxyListener: true})
	id := b.insertJob(t)
	conn := dial(t, b.url+"?job_id="+strconv.FormatInt(id, 10))
	require.Equal(t, "available", readStatus(t, conn).State)

	b.proxy.Down()
	b.exec(t, `UPDATE river_job SET state = 'completed', attempt = 1, attempted_at = now(), finalized_at = now() WHERE id = $1`, id)
	b.proxy.Up()

	st := readStatus(t, conn)
	require.Equal(t, "running", st.Status)
	require.Equal(t, 1, st.Attempt)
	st = readStatus(t, conn)
	require.Equal(t, "completed", st.Status)
	requireClose(t, conn, websocket.CloseNormalClosure)
	require.Eventually(t, func() bool { return testutil.ToFloat64(b.metrics.ListenerReconnects) >= 1 }, 5*time.Second, 10*time.Millisecond)
}

// peer is r's client address (httpapi's, without proxies).
func peer(r *http.Request) netip.Addr {
	ap, _ := netip.ParseAddrPort(r.RemoteAddr)
	return ap.Addr()
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
