// Package redisbreaker keeps an unreachable Redis from slowing Bespin
// down. Redis is an optimisation here (rate limits fail open, webhook
// idempotency falls back to Postgres), so when it goes away every request
// would otherwise still pay a dial or a timeout to learn it again, and
// go-redis would log each failure.
//
// A Breaker is a go-redis hook on the one client that the rate limiter,
// webhook ingestion and /readyz share, so all of them are covered at once:
// after one failed command (a connection refused, reset or timed out, not
// a Redis error reply) every command fails at once with ErrOpen, without
// touching the network, while one background goroutine probes Redis with
// PING after a back-off that doubles from Config.MinBackoff up to
// Config.MaxBackoff. The first probe that succeeds lets commands through
// again. The outage is logged once when it begins and once when it ends
// (structured), and reported through Config.OnChange (the bespin_redis_up
// gauge) and State (/readyz).
package redisbreaker

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrOpen is what commands fail with while Redis is unavailable.
var ErrOpen = errors.New("redis unavailable: skipped until a probe reaches it")

// Config configures a Breaker.
type Config struct {
	Logger *slog.Logger
	// Addr names Redis in log lines.
	Addr string
	// MinBackoff is the wait before the first probe after a failure; each
	// failed probe doubles it, up to MaxBackoff. Defaults 1s and 30s.
	MinBackoff, MaxBackoff time.Duration
	// ProbeTimeout bounds one probe (default 1s).
	ProbeTimeout time.Duration
	// OnChange, if set, is called with false when Redis goes away and
	// with true when it is back.
	OnChange func(up bool)
}

// Breaker guards one Redis client. Close it before the client.
type Breaker struct {
	cfg Config
	rdb *redis.Client

	mu    sync.Mutex
	open  bool
	since time.Time // when the current outage began

	stop chan struct{}
	wg   sync.WaitGroup
}

// New installs a Breaker on rdb.
func New(rdb *redis.Client, cfg Config) *Breaker {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = time.Second
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(30*time.Second, cfg.MinBackoff)
	}
	if cfg.ProbeTimeout <= 0 {
		cfg.ProbeTimeout = time.Second
	}
	b := &Breaker{cfg: cfg, rdb: rdb, stop: make(chan struct{})}
	rdb.AddHook(b)
	return b
}

// State reports whether Redis is up and, when it is not, since when.
func (b *Breaker) State() (up bool, downSince time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.open, b.since
}

// Close stops probing and waits for the prober.
func (b *Breaker) Close() {
	b.mu.Lock()
	select {
	case <-b.stop:
	default:
		close(b.stop)
	}
	b.mu.Unlock()
	b.wg.Wait()
}

// IsOutage reports whether err says Redis could not be asked (ErrOpen, or
// a network failure), which the Breaker logs once per outage, rather than
// an error Redis itself replied with, which callers should log.
func IsOutage(err error) bool {
	var reply redis.Error
	return err != nil && !errors.As(err, &reply)
}

// LogLevel is the level a caller of Redis should log err at: debug for an
// outage (the Breaker logs each outage once), warn for anything else.
func LogLevel(err error) slog.Level {
	if IsOutage(err) {
		return slog.LevelDebug
	}
	return slog.LevelWarn
}

type probeKey struct{}

// DialHook is go-redis' hook; dials pass through.
func (b *Breaker) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) { return next(ctx, network, addr) }
}

// ProcessHook fails commands at once while Redis is unavailable.
func (b *Breaker) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !b.allow(ctx) {
			cmd.SetErr(ErrOpen)
			return ErrOpen
		}
		err := next(ctx, cmd)
		b.observe(ctx, err)
		return err
	}
}

// ProcessPipelineHook fails pipelines at once while Redis is unavailable.
func (b *Breaker) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if !b.allow(ctx) {
			for _, cmd := range cmds {
				cmd.SetErr(ErrOpen)
			}
			return ErrOpen
		}
		err := next(ctx, cmds)
		b.observe(ctx, err)
		return err
	}
}

// allow reports whether a command may reach Redis: always for probes.
func (b *Breaker) allow(ctx context.Context) bool {
	if ctx.Value(probeKey{}) != nil {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.open
}

// observe opens the breaker on a failure to reach Redis. A reply (even an
// error reply or a nil) proves Redis answers; a caller that gave up, or
// a client closed at shutdown, proves nothing.
func (b *Breaker) observe(ctx context.Context, err error) {
	if err == nil || !IsOutage(err) || errors.Is(err, context.Canceled) || errors.Is(err, redis.ErrClosed) ||
		ctx.Value(probeKey{}) != nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.open {
		return
	}
	select {
	case <-b.stop:
		return // closing: nobody to probe for
	default:
	}
	b.open, b.since = true, time.Now()
	b.cfg.Logger.Warn("redis unavailable; rate limits fail open and webhook idempotency relies on Postgres until it is back",
		slog.String("redis_addr", b.cfg.Addr), slog.String("error", err.Error()),
		slog.Duration("next_probe_in", b.cfg.MinBackoff))
	if b.cfg.OnChange != nil {
		b.cfg.OnChange(false)
	}
	b.wg.Add(1)
	go b.probe()
}

// probe pings Redis after a growing back-off until it answers (or Close).
func (b *Breaker) probe() {
	defer b.wg.Done()
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), probeKey{}, true))
	defer cancel()
	go func() {
		select {
		case <-b.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	backoff := b.cfg.MinBackoff
	for {
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
		pctx, pcancel := context.WithTimeout(ctx, b.cfg.ProbeTimeout)
		err := b.rdb.Ping(pctx).Err()
		pcancel()
		if err == nil {
			b.mu.Lock()
			down := time.Since(b.since)
			b.open, b.since = false, time.Time{}
			b.mu.Unlock()
			b.cfg.Logger.Info("redis is back", slog.String("redis_addr", b.cfg.Addr), slog.Duration("down_for", down))
			if b.cfg.OnChange != nil {
				b.cfg.OnChange(true)
			}
			return
		}
		backoff = nextBackoff(backoff, b.cfg.MaxBackoff)
		b.cfg.Logger.Debug("redis still unavailable", slog.String("redis_addr", b.cfg.Addr),
			slog.String("error", err.Error()), slog.Duration("next_probe_in", backoff))
	}
}

// nextBackoff doubles d, up to limit.
func nextBackoff(d, limit time.Duration) time.Duration { return min(2*d, limit) }
