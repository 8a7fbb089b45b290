package redisbreaker

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/bespin/bespin/internal/redistest"
)

type bundle struct {
	redis   *redistest.Private
	rdb     *redis.Client
	breaker *Breaker
	dials   atomic.Int64
	logs    *syncBuffer

	mu      sync.Mutex
	changes []bool
}

// setup guards a client of a private redis-server (which the test may
// kill) that counts its dials.
func setup(t *testing.T, minBackoff time.Duration) *bundle {
	t.Helper()
	b := &bundle{redis: redistest.StartPrivate(t), logs: &syncBuffer{}}
	b.rdb = redis.NewClient(&redis.Options{
		Addr: b.redis.Addr(), DialerRetries: 1, MaxRetries: -1,
		Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
			b.dials.Add(1)
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	})
	b.breaker = New(b.rdb, Config{
		Logger: slog.New(slog.NewJSONHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Addr:   b.redis.Addr(), MinBackoff: minBackoff, MaxBackoff: 4 * minBackoff,
		OnChange: func(up bool) {
			b.mu.Lock()
			defer b.mu.Unlock()
			b.changes = append(b.changes, up)
		},
	})
	t.Cleanup(func() {
		b.breaker.Close()
		b.rdb.Close()
	})
	return b
}

func (b *bundle) lines(msg string) int { return strings.Count(b.logs.String(), `"msg":"`+msg) }

func (b *bundle) stateChanges() []bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]bool(nil), b.changes...)
}

// After one failure, commands do not reach for Redis at all until a probe
// finds it: no dial, no wait, one log line.
func TestCommandsSkipRedisWhileItIsDown(t *testing.T) {
	t.Parallel()
	b := setup(t, time.Hour) // no probe during this test
	ctx := context.Background()
	require.NoError(t, b.rdb.Set(ctx, "k", "v", 0).Err())
	up, _ := b.breaker.State()
	require.True(t, up)

	b.redis.Kill()
	require.Error(t, b.rdb.Get(ctx, "k").Err(), "the first command finds Redis gone")
	up, since := b.breaker.State()
	require.False(t, up)
	require.False(t, since.IsZero())

	dials := b.dials.Load()
	for range 100 {
		require.ErrorIs(t, b.rdb.Get(ctx, "k").Err(), ErrOpen)
		_, err := b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.Get(ctx, "a")
			p.Get(ctx, "b")
			return nil
		})
		require.ErrorIs(t, err, ErrOpen)
	}
	require.Equal(t, dials, b.dials.Load(), "no command dialled Redis while the breaker was open")
	require.Equal(t, 1, b.lines("redis unavailable"), b.logs.String())
	require.Equal(t, []bool{false}, b.stateChanges())
	require.True(t, IsOutage(ErrOpen))
}

// A reply, even an error reply or a missing key, is Redis answering.
func TestRepliesKeepTheBreakerClosed(t *testing.T) {
	t.Parallel()
	b := setup(t, time.Hour)
	ctx := context.Background()
	require.ErrorIs(t, b.rdb.Get(ctx, "missing").Err(), redis.Nil)
	err := b.rdb.Do(ctx, "NOSUCHCOMMAND").Err()
	require.Error(t, err)
	require.False(t, IsOutage(err))
	up, _ := b.breaker.State()
	require.True(t, up)
	require.Zero(t, b.lines("redis unavailable"))
}

// The prober finds Redis back: commands reach it again, and the outage
// made exactly one line when it began and one when it ended.
func TestProbeFindsRedisBack(t *testing.T) {
	t.Parallel()
	b := setup(t, 20*time.Millisecond)
	ctx := context.Background()
	b.redis.Kill()
	require.Error(t, b.rdb.Ping(ctx).Err())
	up, _ := b.breaker.State()
	require.False(t, up)
	// Several probes fail (the back-off is short) without logging more.
	require.Eventually(t, func() bool { return b.lines("redis still unavailable") >= 3 }, 30*time.Second, 10*time.Millisecond)

	b.redis.Start()
	require.Eventually(t, func() bool { up, _ := b.breaker.State(); return up }, 30*time.Second, 10*time.Millisecond)
	require.NoError(t, b.rdb.Set(ctx, "k", "v", 0).Err())
	require.Equal(t, 1, b.lines("redis unavailable"), b.logs.String())
	require.Equal(t, 1, b.lines("redis is back"), b.logs.String())
	require.Contains(t, b.logs.String(), `"down_for"`)
	require.Equal(t, []bool{false, true}, b.stateChanges())
}

func TestBackoffGrowsToItsCap(t *testing.T) {
	t.Parallel()
	d := time.Second
	var seen []time.Duration
	for range 7 {
		d = nextBackoff(d, 30*time.Second)
		seen = append(seen, d)
	}
	require.Equal(t, []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second,
		30 * time.Second, 30 * time.Second, 30 * time.Second}, seen)
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}
