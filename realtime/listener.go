package realtime

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bespin/bespin/metrics"
)

// Feed consumes the notifications of one Postgres channel. Process is
// only ever called from one goroutine per feed, so the reads it makes are
// serial: each sees at least what the one before saw, which is what keeps
// every watcher's messages in order.
type Feed interface {
	// Channel is the NOTIFY channel the listener LISTENs on for this feed.
	Channel() string
	// Process handles the payloads received since the last call, in
	// arrival (commit) order. resync is true after every (re)connection,
	// and after a failed Process: whatever the feed delivers must be
	// re-read, because notifications may have been missed. An error makes
	// the listener call Process again, with resync, after a backoff.
	Process(ctx context.Context, payloads []string, resync bool) error
}

// ListenerConfig configures a Listener.
type ListenerConfig struct {
	// ConnConfig is where to connect; the listener opens its own session
	// connection (LISTEN needs one: a pooled connection or PgBouncer in
	// transaction mode would lose it).
	ConnConfig *pgx.ConnConfig
	Logger     *slog.Logger
	Metrics    *metrics.Metrics
	// BackoffMin and BackoffMax bound the jittered wait between
	// reconnection attempts (defaults 100ms and 5s).
	BackoffMin, BackoffMax time.Duration
	// HealthInterval is how long the connection may stay silent before
	// the listener checks it with a ping (default 30s).
	HealthInterval time.Duration
	// ResyncInterval is how often every feed resyncs even though nothing
	// was lost on this connection (default 10s): the backstop for changes
	// whose announcement never came, such as a completion committed by a
	// worker process that died before its announcer sent it (see
	// Announcer). A resync re-reads only what is watched, batched.
	ResyncInterval time.Duration
}

// Listener holds the process's one LISTEN connection and hands each
// channel's notifications to its Feed. It reconnects with capped, jittered
// exponential backoff, and after every connection tells each feed to
// resync.
type Listener struct {
	cfg       ListenerConfig
	feeds     map[string]*feedRunner
	connected chan struct{}
	once      sync.Once
}

// NewListener returns a Listener; Add feeds, then Run it.
func NewListener(cfg ListenerConfig) *Listener {
	if cfg.BackoffMin <= 0 {
		cfg.BackoffMin = 100 * time.Millisecond
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = 5 * time.Second
	}
	if cfg.HealthInterval <= 0 {
		cfg.HealthInterval = 30 * time.Second
	}
	if cfg.ResyncInterval <= 0 {
		cfg.ResyncInterval = 10 * time.Second
	}
	cc := cfg.ConnConfig.Copy()
	if cc.RuntimeParams == nil {
		cc.RuntimeParams = map[string]string{}
	}
	cc.RuntimeParams["application_name"] = ListenerApplicationName
	cfg.ConnConfig = cc
	return &Listener{cfg: cfg, feeds: map[string]*feedRunner{}, connected: make(chan struct{})}
}

// ListenerApplicationName is the application_name of the LISTEN session,
// so operators (and tests) can find it in pg_stat_activity.
const ListenerApplicationName = "bespin-listener"

// Add registers a feed. It must be called before Run. The returned
// function asks for a Process call with no new payloads (a feed uses it
// when it has work of its own, such as a new watcher to serve).
func (l *Listener) Add(f Feed) (wake func()) {
	fr := &feedRunner{feed: f, wake: make(chan struct{}, 1), logger: l.cfg.Logger, cfg: &l.cfg}
	l.feeds[f.Channel()] = fr
	return fr.signal
}

// maxPending bounds the payloads buffered for a slow feed. Past it they
// are dropped and the feed resyncs instead: memory stays bounded and
// watched items are still re-read.
const maxPending = 10_000

// feedRunner buffers one channel's payloads and runs its Feed.
type feedRunner struct {
	feed   Feed
	logger *slog.Logger
	cfg    *ListenerConfig

	mu       sync.Mutex
	payloads []string
	resync   bool
	wake     chan struct{}
}

func (fr *feedRunner) signal() {
	select {
	case fr.wake <- struct{}{}:
	default:
	}
}

func (fr *feedRunner) push(payload string) {
	fr.mu.Lock()
	if len(fr.payloads) >= maxPending {
		fr.payloads, fr.resync = nil, true
	} else {
		fr.payloads = append(fr.payloads, payload)
	}
	fr.mu.Unlock()
	fr.signal()
}

func (fr *feedRunner) requestResync() {
	fr.mu.Lock()
	fr.resync = true
	fr.mu.Unlock()
	fr.signal()
}

func (fr *feedRunner) run(ctx context.Context) {
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-fr.wake:
		}
		fr.mu.Lock()
		payloads, resync := fr.payloads, fr.resync
		fr.payloads, fr.resync = nil, false
		fr.mu.Unlock()
		if err := fr.feed.Process(ctx, payloads, resync); err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			fr.logger.Warn("realtime feed failed; retrying with a resync",
				slog.String("channel", fr.feed.Channel()), slog.String("error", err.Error()))
			if !sleep(ctx, backoff(fr.cfg.BackoffMin, fr.cfg.BackoffMax, failures)) {
				return
			}
			fr.requestResync()
			continue
		}
		failures = 0
	}
}

// Resync asks every feed to re-read what it delivers, as after a
// reconnection: the announcer calls it when its NOTIFY failed, so this
// process's watchers miss nothing. It never blocks.
func (l *Listener) Resync() {
	for _, fr := range l.feeds {
		fr.requestResync()
	}
}

// Connected is closed once the listener has first LISTENed (and asked its
// feeds to resync).
func (l *Listener) Connected() <-chan struct{} { return l.connected }

// Run keeps the LISTEN connection up until ctx is cancelled.
func (l *Listener) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, fr := range l.feeds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fr.run(ctx)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(l.cfg.ResyncInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				l.Resync()
			}
		}
	}()
	defer wg.Wait()

	failures := 0
	for connects := 0; ; {
		err := l.listen(ctx, func() {
			if connects > 0 {
				l.cfg.Metrics.ListenerReconnects.Inc()
				l.cfg.Logger.Info("listener reconnected")
			}
			connects++
			failures = 0
			l.Resync()
			l.once.Do(func() { close(l.connected) })
		})
		if ctx.Err() != nil {
			return
		}
		failures++
		wait := backoff(l.cfg.BackoffMin, l.cfg.BackoffMax, failures)
		l.cfg.Logger.Warn("listener connection lost; reconnecting",
			slog.String("error", err.Error()), slog.Duration("backoff", wait))
		if !sleep(ctx, wait) {
			return
		}
	}
}

// listen connects, LISTENs on every feed's channel and dispatches
// notifications until the connection fails or ctx ends.
func (l *Listener) listen(ctx context.Context, connected func()) error {
	conn, err := pgx.ConnectConfig(ctx, l.cfg.ConnConfig)
	if err != nil {
		return err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn.Close(closeCtx) //nolint:errcheck // the connection is being abandoned
	}()
	for ch := range l.feeds {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			return err
		}
	}
	connected()
	for {
		waitCtx, cancel := context.WithTimeout(ctx, l.cfg.HealthInterval)
		n, err := conn.WaitForNotification(waitCtx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded) || (err != nil && waitCtx.Err() != nil):
			// Silence: make sure the connection is still there.
			pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := conn.Ping(pingCtx)
			cancel()
			if err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			if fr := l.feeds[n.Channel]; fr != nil {
				fr.push(n.Payload)
			}
		}
	}
}

// backoff is "full jitter" exponential backoff: a random wait up to
// min(max, min*2^failures), so instances that lost Postgres together do
// not reconnect in lockstep.
func backoff(lo, hi time.Duration, failures int) time.Duration {
	ceiling := hi
	if failures < 20 {
		ceiling = min(hi, lo<<failures)
	}
	return lo/2 + rand.N(ceiling-lo/2+1)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
