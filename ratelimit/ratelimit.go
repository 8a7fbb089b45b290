// Package ratelimit limits request rates per key with GCRA (the generic cell
// rate algorithm) stored in Redis, so every Bespin instance shares one
// budget per client. It has its own package because both job creation and
// webhook receipt use it, and because its one Redis round trip (a Lua
// script) is the whole algorithm.
//
// GCRA keeps a single number per key, the theoretical arrival time (TAT) of
// the next request. A request is allowed when TAT - now is within the burst
// tolerance; each allowed request pushes TAT forward by one emission
// interval (1/rate). The key expires when TAT passes, so idle clients cost
// nothing.
package ratelimit

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Limit is a sustained rate with a burst allowance.
type Limit struct {
	PerMinute int // sustained requests per minute; 0 disables the limit
	Burst     int // requests allowed at once
}

// Enabled reports whether the limit restricts anything.
func (l Limit) Enabled() bool { return l.PerMinute > 0 }

// Result is the limiter's answer for one request.
type Result struct {
	Allowed    bool
	Limit      int           // the burst: requests allowed at once
	Remaining  int           // requests allowed right now after this one
	RetryAfter time.Duration // when denied: wait this long
	ResetAfter time.Duration // until the full burst is available again
}

// Limiter checks limits in Redis. All keys start with its prefix.
type Limiter struct {
	rdb    redis.UniversalClient
	prefix string
}

// New returns a Limiter using rdb, with keys under prefix (e.g. "bespin:rl:").
func New(rdb redis.UniversalClient, prefix string) *Limiter {
	return &Limiter{rdb: rdb, prefix: prefix}
}

// The script uses Redis' own clock (TIME), so instances with skewed clocks
// still agree. Floats go back as strings: Redis truncates Lua numbers to
// integers in replies.
var gcra = redis.NewScript(`
local emission = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat or tat < now then tat = now end
local new_tat = tat + emission
local allow_at = new_tat - tolerance
if now < allow_at then
  return {0, 0, tostring(allow_at - now), tostring(tat - now)}
end
local ttl = math.ceil((new_tat - now) * 1000)
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', ttl)
return {1, math.floor((now - allow_at) / emission), '0', tostring(new_tat - now)}
`)

// Allow takes one request from key's budget. An error means Redis could not
// be asked; callers decide whether to fail open.
func (l *Limiter) Allow(ctx context.Context, key string, limit Limit) (Result, error) {
	if !limit.Enabled() {
		return Result{Allowed: true, Limit: limit.Burst, Remaining: limit.Burst}, nil
	}
	burst := max(limit.Burst, 1)
	emission := 60.0 / float64(limit.PerMinute) // seconds per request
	// Tolerance of burst intervals lets `burst` requests through at once.
	tolerance := emission * float64(burst)
	vals, err := gcra.Run(ctx, l.rdb, []string{l.prefix + key},
		strconv.FormatFloat(emission, 'f', -1, 64),
		strconv.FormatFloat(tolerance, 'f', -1, 64),
	).Slice()
	if err != nil {
		return Result{}, fmt.Errorf("rate limit %s: %w", key, err)
	}
	if len(vals) != 4 {
		return Result{}, fmt.Errorf("rate limit %s: unexpected reply %v", key, vals)
	}
	allowed, _ := vals[0].(int64)
	remaining, _ := vals[1].(int64)
	return Result{
		Allowed:    allowed == 1,
		Limit:      burst,
		Remaining:  int(min(remaining, int64(burst))),
		RetryAfter: seconds(vals[2]),
		ResetAfter: seconds(vals[3]),
	}, nil
}

func seconds(v any) time.Duration {
	s, _ := v.(string)
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || f < 0 {
		return 0
	}
	return time.Duration(f * float64(time.Second))
}
