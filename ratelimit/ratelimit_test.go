package ratelimit_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bespin/bespin/internal/redistest"
	"github.com/bespin/bespin/ratelimit"
)

func TestAllowBurstThenLimit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := redistest.New(t)
	l := ratelimit.New(rdb, prefix)
	limit := ratelimit.Limit{PerMinute: 60, Burst: 5}

	for i := range 5 {
		res, err := l.Allow(ctx, "client", limit)
		require.NoError(t, err)
		require.True(t, res.Allowed, "request %d is within the burst", i+1)
		require.Equal(t, 5, res.Limit)
		require.Equal(t, 4-i, res.Remaining)
	}
	res, err := l.Allow(ctx, "client", limit)
	require.NoError(t, err)
	require.False(t, res.Allowed, "the sixth request exceeds the burst")
	require.Zero(t, res.Remaining)
	require.InDelta(t, time.Second, res.RetryAfter, float64(200*time.Millisecond), "one request per second frees up")
	require.InDelta(t, 5*time.Second, res.ResetAfter, float64(200*time.Millisecond))

	other, err := l.Allow(ctx, "other-client", limit)
	require.NoError(t, err)
	require.True(t, other.Allowed, "keys are independent")
}

func TestAllowRefills(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := redistest.New(t)
	l := ratelimit.New(rdb, prefix)
	limit := ratelimit.Limit{PerMinute: 600, Burst: 1} // one per 100ms

	res, err := l.Allow(ctx, "k", limit)
	require.NoError(t, err)
	require.True(t, res.Allowed)
	res, err = l.Allow(ctx, "k", limit)
	require.NoError(t, err)
	require.False(t, res.Allowed)
	time.Sleep(res.RetryAfter + 10*time.Millisecond)
	res, err = l.Allow(ctx, "k", limit)
	require.NoError(t, err)
	require.True(t, res.Allowed, "allowed again after Retry-After")
}

// Concurrent requests never get more than the burst between them: the
// check and the update are one atomic script.
func TestAllowConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := redistest.New(t)
	l := ratelimit.New(rdb, prefix)
	limit := ratelimit.Limit{PerMinute: 1, Burst: 10}

	var mu sync.Mutex
	allowed := 0
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			res, err := l.Allow(ctx, "k", limit)
			require.NoError(t, err)
			if res.Allowed {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.Equal(t, 10, allowed)
}

func TestAllowRedisDown(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.New(t)
	rdb.Close()
	_, err := ratelimit.New(rdb, "x:").Allow(context.Background(), "k", ratelimit.Limit{PerMinute: 1, Burst: 1})
	require.Error(t, err, "the caller learns Redis could not be asked and decides to fail open")

	res, err := ratelimit.New(rdb, "x:").Allow(context.Background(), "k", ratelimit.Limit{})
	require.NoError(t, err)
	require.True(t, res.Allowed, "a disabled limit never asks Redis")
}
