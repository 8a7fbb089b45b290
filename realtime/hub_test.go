package realtime

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/bespin/bespin/internal/dbtest"
)

func TestSubscriberCoalescesWhenBehind(t *testing.T) {
	t.Parallel()
	s := newSubscriber(true)
	for i := range jobQueueCap + 3 {
		s.offer([]byte(strconv.Itoa(i)), false)
	}
	s.offer([]byte("last"), true)
	s.offer([]byte("last"), true) // repeats are skipped
	s.attach(func() {})           // a writer that does nothing: next is called here
	o, ok := s.next()
	require.True(t, ok)
	msgs := o.msgs
	require.False(t, o.dropped)
	require.Len(t, msgs, 4, "the queue restarted from the newest when it overflowed")
	require.Equal(t, "last", string(msgs[len(msgs)-1].data))
	require.True(t, msgs[len(msgs)-1].terminal)
}

func TestStreamSubscriberDroppedWhenBehind(t *testing.T) {
	t.Parallel()
	s := newSubscriber(false)
	for i := range streamQueueCap {
		s.offer([]byte(strconv.Itoa(i)), false)
	}
	o, ok := s.next()
	require.True(t, ok)
	require.False(t, o.dropped)
	require.Len(t, o.msgs, streamQueueCap)
	for i := range streamQueueCap + 1 {
		s.offer([]byte(strconv.Itoa(i)), false)
	}
	o, ok = s.next()
	require.True(t, ok)
	require.True(t, o.dropped)
	require.Empty(t, o.msgs)
}

func TestOriginPolicy(t *testing.T) {
	t.Parallel()
	dev := NewServer(ServerConfig{Hub: NewHub(), AllowedOrigins: []string{"https://app.example.com"}, Development: true})
	prod := NewServer(ServerConfig{Hub: NewHub(), AllowedOrigins: []string{"https://app.example.com"}})
	for _, tc := range []struct {
		origin    string
		dev, prod bool
	}{
		{"", true, true},
		{"https://app.example.com", true, true},
		{"https://APP.example.com", true, true},
		{"https://evil.example.com", false, false},
		{"http://localhost:5173", true, false},
		{"http://127.0.0.1:3000", true, false},
		{"http://api.test", true, true}, // same host as the request
		{"null", false, false},
	} {
		r := httptest.NewRequest("GET", "http://api.test/api/ws", nil)
		if tc.origin != "" {
			r.Header.Set("Origin", tc.origin)
		}
		require.Equal(t, tc.dev, dev.OriginAllowed(r), "development, origin %q", tc.origin)
		require.Equal(t, tc.prod, prod.OriginAllowed(r), "production, origin %q", tc.origin)
	}
}

// The jobs stream carries every job's state changes (not its insertion:
// inserts notify nothing, see migration 000010), and does not close when a
// job finishes.
func TestTopicStream(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	conn := dial(t, b.url+"?topic=jobs")
	require.Eventually(t, func() bool { return b.hub.HasSubscribers(TopicJobs) }, 5*time.Second, 5*time.Millisecond)

	id1, id2 := b.insertJob(t), b.insertJob(t)
	seen := map[string][]string{}
	b.exec(t, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = now() WHERE id = $1`, id2)
	b.exec(t, `UPDATE river_job SET state = 'completed', attempt = 1, attempted_at = now(), finalized_at = now() WHERE id = $1`, id1)
	for range 2 {
		st := readStatus(t, conn)
		seen[st.JobID] = append(seen[st.JobID], st.State)
	}
	require.Equal(t, []string{"completed"}, seen[strconv.FormatInt(id1, 10)])
	require.Equal(t, []string{"running"}, seen[strconv.FormatInt(id2, 10)])
}

// What an Announcer sends on a channel reaches the topic's streams through
// a TopicFeed, message by message; anything else on the channel is ignored.
func TestTopicFeed(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{extraFeed: func(h *Hub, l *Listener) {
		NewTopicFeed(h, "bespin_test_stream", "things", discardLogger()).AttachTo(l)
	}})
	conn := dial(t, b.url+"?topic=things")
	require.Eventually(t, func() bool { return b.hub.HasSubscribers("things") }, 5*time.Second, 5*time.Millisecond)
	b.exec(t, `SELECT pg_notify('bespin_test_stream', 'not json')`)
	b.exec(t, `SELECT pg_notify('bespin_test_stream', '["not an object"]')`)

	announcer := NewAnnouncer(AnnouncerConfig{ConnConfig: b.pool.Config().ConnConfig, Logger: discardLogger()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); announcer.Run(ctx) }()
	defer func() { cancel(); <-done }()
	topic := announcer.Topic("bespin_test_stream")
	topic.Announce(map[string]string{"id": "r1"})
	topic.Announce(map[string]string{"id": "r2"})

	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	for _, want := range []string{`{"id": "r1"}`, `{"id": "r2"}`} {
		_, data, err := conn.ReadMessage()
		require.NoError(t, err)
		require.JSONEq(t, want, string(data))
	}
}

// Summaries announced right before shutdown are still sent: Run delivers
// everything queued before it returns, including a batch being collected
// when its context ends.
func TestAnnouncerDeliversQueuedAtShutdown(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	_, err = conn.Exec(ctx, "LISTEN bespin_test_shutdown")
	require.NoError(t, err)

	announcer := NewAnnouncer(AnnouncerConfig{ConnConfig: pool.Config().ConnConfig, Logger: discardLogger(), FlushAfter: time.Hour, TopicFlushAfter: time.Hour})
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); announcer.Run(runCtx) }()
	topic := announcer.Topic("bespin_test_shutdown")
	topic.Announce(map[string]int{"n": 1})
	time.Sleep(5 * time.Millisecond) // Run is now waiting for companions of the first summary
	topic.Announce(map[string]int{"n": 2})
	stop()
	<-done

	var got []map[string]int
	for len(got) < 2 {
		n, err := conn.Conn().WaitForNotification(ctx)
		require.NoError(t, err, "announced before shutdown, never sent")
		var batch []map[string]int
		require.NoError(t, json.Unmarshal([]byte(n.Payload), &batch))
		got = append(got, batch...)
	}
	require.Equal(t, []map[string]int{{"n": 1}, {"n": 2}}, got)
}

// A client that stops answering pings is dropped.
func TestSilentClientDropped(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{serverCfg: func(c *ServerConfig) {
		c.PingInterval = 20 * time.Millisecond
		c.PongTimeout = 100 * time.Millisecond
	}})
	id := b.insertJob(t)
	// Ping handling happens while reading; a client that never reads never
	// answers.
	conn, resp, err := websocket.DefaultDialer.Dial(b.url+"?job_id="+strconv.FormatInt(id, 10), nil)
	require.NoError(t, err)
	resp.Body.Close()
	defer conn.Close()
	require.Eventually(t, func() bool { return testutil.ToFloat64(b.metrics.WebSocketConnections) == 1 }, 5*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool { return testutil.ToFloat64(b.metrics.WebSocketConnections) == 0 }, 5*time.Second, 5*time.Millisecond)
	require.Empty(t, b.hub.WatchedJobs())
}

// Shutdown says "going away" (1001) to every client.
func TestShutdownClosesWith1001(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	id := b.insertJob(t)
	conn := dial(t, b.url+"?job_id="+strconv.FormatInt(id, 10))
	require.Equal(t, "pending", readStatus(t, conn).Status)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- b.server.Shutdown(ctx) }()
	requireClose(t, conn, websocket.CloseGoingAway)
	require.NoError(t, <-errc)
}

// A client that answers pings stays connected past PongTimeout: the
// server's pinger keeps pinging it.
func TestAnsweringClientKeptAlive(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{serverCfg: func(c *ServerConfig) {
		c.PingInterval = 20 * time.Millisecond
		c.PongTimeout = 100 * time.Millisecond
	}})
	id := b.insertJob(t)
	conn := dial(t, b.url+"?job_id="+strconv.FormatInt(id, 10))
	require.Equal(t, "pending", readStatus(t, conn).Status)
	var pings atomic.Int64
	conn.SetPingHandler(func(data string) error {
		pings.Add(1)
		return conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	errc := make(chan error, 1)
	go func() { _, _, err := conn.ReadMessage(); errc <- err }()

	time.Sleep(500 * time.Millisecond) // five pong timeouts
	require.GreaterOrEqual(t, pings.Load(), int64(10))
	require.Equal(t, 1.0, testutil.ToFloat64(b.metrics.WebSocketConnections))

	// Still served: a change arrives, then 1000.
	_, err := b.river.JobCancel(context.Background(), id)
	require.NoError(t, err)
	select {
	case err := <-errc:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("no status within 10s")
	}
	requireClose(t, conn, websocket.CloseNormalClosure)
}

// ServeJob returns once the connection is set up, so net/http's goroutine,
// buffers and request are not held for the connection's life (the fanout
// benchmark's memory per connection); the connection goes on without it.
func TestServeJobReturnsAfterUpgrade(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	returned := make(chan struct{}, 1)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := strconv.ParseInt(r.URL.Query().Get("job_id"), 10, 64)
		adm, err := b.server.Admit(peer(r))
		require.NoError(t, err)
		b.server.ServeJob(w, r, adm, id, "random-text")
		returned <- struct{}{}
	}))
	t.Cleanup(ts.Close)
	id := b.insertJob(t)
	conn := dial(t, "ws"+strings.TrimPrefix(ts.URL, "http")+"?job_id="+strconv.FormatInt(id, 10))
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("ServeJob still running 5s after the upgrade")
	}
	require.Equal(t, "pending", readStatus(t, conn).Status)
	_, err := b.river.JobCancel(context.Background(), id)
	require.NoError(t, err)
	require.Equal(t, "cancelled", readStatus(t, conn).State)
	requireClose(t, conn, websocket.CloseNormalClosure)
}
