// Package redistest connects tests to the real Redis at REDIS_ADDR
// (default localhost:6379). Each test gets its own key prefix, and its keys
// are deleted when it ends, so parallel tests never see each other's state.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Addr is the Redis address tests use.
func Addr() string {
	if a := os.Getenv("REDIS_ADDR"); a != "" {
		return a
	}
	return "localhost:6379"
}

// New returns a client for the test Redis and a key prefix unique to t.
// It fails the test, saying what to start, when Redis does not answer.
func New(t testing.TB) (*redis.Client, string) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: Addr()})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		t.Fatalf("redistest: no Redis answers at %s (%v).\nStart one: `make services` (or `redis-server --daemonize yes`), or set REDIS_ADDR", Addr(), err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	prefix := "bespintest:" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
		rdb.Close()
	})
	return rdb, prefix
}
