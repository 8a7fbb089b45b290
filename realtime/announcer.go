package realtime

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river/rivertype"

	"github.com/bespin/bespin/store"
)

// Announcer sends, after commit, what the process's own transactions
// changed: job states its workers committed themselves (AnnounceJob, on
// JobChannel) and new webhook receipts (Topic(WebhookChannel)). It batches
// whatever accumulates (a job state waits at most 2 ms, a topic message
// 20 ms, or until 2,000 items wait) into one NOTIFY statement (one payload
// per channel, more when a payload would pass 6 kB), sent on a session
// connection of its own, outside any data transaction.
//
// Why not pg_notify in the data transactions: Postgres serialises the
// commits of every transaction that issued a NOTIFY (a database-wide lock
// taken at commit and held through the commit's WAL flush), so a NOTIFY in
// each job completion or webhook receipt caps those at one commit per WAL
// flush (docs/operations.md has the figures). Here only the announcer's
// own transactions notify, one per batch, and they commit without waiting
// for a WAL flush (synchronous_commit=off on its session: an announcement
// is ephemeral, and what it announces was committed, durably, before it
// was queued), so the lock is held for the shortest time possible.
// Announcing after commit also means only committed changes are announced.
//
// What it gives up, and what covers it:
//   - A NOTIFY that fails (the connection was cut, Postgres restarts) is
//     retried on a new connection until it is sent, and OnFailure is
//     called at once: the server resyncs its own feeds from the rows, so
//     its watchers miss nothing even while the announcer cannot reach
//     Postgres. (A NOTIFY whose answer was lost may be delivered twice;
//     feeds re-read rows, so a repeat changes nothing for watchers.)
//   - A process that dies between its commit and the flush (at most a few
//     milliseconds) never announces those changes. Job watchers on every
//     instance still get them from the listener's periodic resync
//     (ListenerConfig.ResyncInterval); webhook streams, live-only
//     dashboards, miss those receipts.
//   - A queue that overflows (Postgres unreachable for long under load)
//     drops announcements and calls OnFailure, as above.
type Announcer struct {
	cfg AnnouncerConfig

	mu      sync.Mutex
	pending map[string]*channelBatch // by channel
	items   int
	dropped int
	wake    chan struct{}
}

// AnnouncerConfig configures an Announcer.
type AnnouncerConfig struct {
	// ConnConfig is where to connect. The announcer opens its own session
	// (application_name bespin-announcer), so a NOTIFY never waits for a
	// pooled connection.
	ConnConfig *pgx.ConnConfig
	Logger     *slog.Logger
	// FlushAfter bounds how long a job state waits for companions
	// (default 2ms): a watcher is waiting for it.
	FlushAfter time.Duration
	// TopicFlushAfter bounds how long a topic message (a webhook receipt
	// for dashboards) waits for companions (default 20ms). Anything
	// pending is sent with whatever is due first.
	TopicFlushAfter time.Duration
	// OnFailure, if set, is called when announcements may not have reached
	// the listeners: a NOTIFY failed, or the queue overflowed. The server
	// resyncs its feeds with it (Listener.Resync).
	OnFailure func()
	// BackoffMin and BackoffMax bound the jittered wait between attempts
	// to reconnect and resend (defaults 50ms and 2s).
	BackoffMin, BackoffMax time.Duration
}

// AnnouncerApplicationName is the application_name of the announcer's
// session, so operators (and tests) can find it in pg_stat_activity.
const AnnouncerApplicationName = "bespin-announcer"

const (
	// announceFlushAfter is AnnouncerConfig.FlushAfter's default: a few
	// milliseconds cost a watcher little and let a busy process send one
	// NOTIFY for many changes.
	announceFlushAfter = 2 * time.Millisecond
	// announceTopicFlushAfter is AnnouncerConfig.TopicFlushAfter's default:
	// dashboards do not notice 20 ms, and fewer NOTIFYs cost less.
	announceTopicFlushAfter = 20 * time.Millisecond
	// announceMaxItems flushes early once this many items are queued.
	announceMaxItems = 2000
	// announceMaxPayload keeps each payload far under NOTIFY's 8000-byte
	// limit.
	announceMaxPayload = 6000
	// announceMaxQueued bounds memory while Postgres cannot be reached.
	announceMaxQueued = 100_000
	// announceTimeout bounds one NOTIFY, also at shutdown.
	announceTimeout = 5 * time.Second
)

// channelBatch is what is queued for one channel.
type channelBatch struct {
	items []json.RawMessage
	at    []time.Time // when each item was queued (the jobs payload's "at")
	due   time.Time   // when the oldest item must be sent
}

// NewAnnouncer returns an announcer. Run must be running for anything to
// be sent.
func NewAnnouncer(cfg AnnouncerConfig) *Announcer {
	if cfg.FlushAfter <= 0 {
		cfg.FlushAfter = announceFlushAfter
	}
	if cfg.TopicFlushAfter <= 0 {
		cfg.TopicFlushAfter = announceTopicFlushAfter
	}
	if cfg.BackoffMin <= 0 {
		cfg.BackoffMin = 50 * time.Millisecond
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cc := cfg.ConnConfig.Copy()
	if cc.RuntimeParams == nil {
		cc.RuntimeParams = map[string]string{}
	}
	cc.RuntimeParams["application_name"] = AnnouncerApplicationName
	// See the type's comment: the announcer's commits need no WAL flush.
	cc.RuntimeParams["synchronous_commit"] = "off"
	cfg.ConnConfig = cc
	return &Announcer{cfg: cfg, pending: map[string]*channelBatch{}, wake: make(chan struct{}, 1)}
}

// AnnounceJob queues a job's new state, committed by this process without
// a trigger NOTIFY (see jobs.CompleteInTx), for JobChannel in the format
// the triggers use, so that JobFeed reads both alike. It never blocks.
func (a *Announcer) AnnounceJob(id int64, state rivertype.JobState) {
	item := make([]byte, 0, 40)
	item = append(item, '[')
	item = strconv.AppendInt(item, id, 10)
	item = append(item, ',')
	item = strconv.AppendQuote(item, string(state))
	item = append(item, ']')
	a.queue(JobChannel, item)
}

// TopicAnnouncer announces small JSON objects on one channel, as a JSON
// array per payload (what TopicFeed streams).
type TopicAnnouncer struct {
	a       *Announcer
	channel string
}

// Topic returns the announcer of channel's messages.
func (a *Announcer) Topic(channel string) *TopicAnnouncer {
	return &TopicAnnouncer{a: a, channel: channel}
}

// Announce queues v (a small JSON object). It never blocks: a live stream
// must not slow down the request that produced it.
func (t *TopicAnnouncer) Announce(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		t.a.cfg.Logger.Error("announce: cannot encode message", slog.String("channel", t.channel), slog.String("error", err.Error()))
		return
	}
	t.a.queue(t.channel, b)
}

func (a *Announcer) queue(channel string, item json.RawMessage) {
	now := time.Now()
	a.mu.Lock()
	if a.items >= announceMaxQueued {
		a.dropped++
		a.mu.Unlock()
		a.signal()
		return
	}
	cb := a.pending[channel]
	if cb == nil {
		wait := a.cfg.TopicFlushAfter
		if channel == JobChannel {
			wait = a.cfg.FlushAfter
		}
		cb = &channelBatch{due: now.Add(wait)}
		a.pending[channel] = cb
	}
	cb.items = append(cb.items, item)
	cb.at = append(cb.at, now)
	a.items++
	a.mu.Unlock()
	a.signal()
}

func (a *Announcer) signal() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// take returns everything queued, and how many items were dropped since
// the last take.
func (a *Announcer) take() (map[string]*channelBatch, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	batch, dropped := a.pending, a.dropped
	a.pending, a.items, a.dropped = map[string]*channelBatch{}, 0, 0
	return batch, dropped
}

// due reports how long until the pending items must be flushed (zero:
// now), and whether anything is pending at all.
func (a *Announcer) due() (time.Duration, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.items == 0 && a.dropped == 0 {
		return 0, false
	}
	if a.items >= announceMaxItems || a.dropped > 0 {
		return 0, true
	}
	var due time.Time
	for _, cb := range a.pending {
		if due.IsZero() || cb.due.Before(due) {
			due = cb.due
		}
	}
	return max(0, time.Until(due)), true
}

// Run sends batches until ctx is done, then sends what is still queued
// (each NOTIFY bounded by announceTimeout) and closes its connection.
// Shutdown stops Run after the work that announces (River, HTTP) has
// stopped, so everything announced before is delivered.
func (a *Announcer) Run(ctx context.Context) {
	s := &announceSession{a: a}
	defer s.close()
	// Connect now, so the first announcement does not wait for it; a
	// failure here is retried by the first send.
	if err := s.connect(ctx); err != nil && ctx.Err() == nil {
		a.cfg.Logger.Warn("announce: cannot connect yet; will retry when there is something to send", slog.String("error", err.Error()))
	}
	failures := 0
	var retry []string // channels and payloads, alternating, of a failed flush
	for {
		wait, pending := a.due()
		if retry != nil {
			pending, wait = true, backoff(a.cfg.BackoffMin, a.cfg.BackoffMax, failures)
		}
		if !pending {
			select {
			case <-a.wake:
				continue
			case <-ctx.Done():
				a.final(s, retry)
				return
			}
		}
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				a.final(s, retry)
				return
			}
		}
		payloads := append(retry, a.encode()...)
		if err := s.send(ctx, payloads); err != nil {
			if ctx.Err() != nil {
				a.final(s, payloads)
				return
			}
			failures++
			if failures == 1 {
				a.failed()
			}
			a.cfg.Logger.Warn("announce: NOTIFY failed; resending on a new connection",
				slog.Int("payloads", len(payloads)/2), slog.Int("failures", failures), slog.String("error", err.Error()))
			retry = payloads
			continue
		}
		retry, failures = nil, 0
	}
}

// final sends what is left at shutdown, once.
func (a *Announcer) final(s *announceSession, retry []string) {
	payloads := append(retry, a.encode()...)
	if len(payloads) == 0 {
		return
	}
	if err := s.send(context.Background(), payloads); err != nil {
		a.failed()
		a.cfg.Logger.Warn("announce: NOTIFY failed at shutdown; announcements lost",
			slog.Int("payloads", len(payloads)/2), slog.String("error", err.Error()))
	}
}

func (a *Announcer) failed() {
	if a.cfg.OnFailure != nil {
		a.cfg.OnFailure()
	}
}

// encode takes everything queued and turns it into channel, payload pairs
// (flattened), each payload under announceMaxPayload: JobChannel's in the
// triggers' format, {"at": <epoch seconds>, "jobs": [[id, "state"], ...]},
// any other channel's as a JSON array of its messages.
func (a *Announcer) encode() []string {
	batch, dropped := a.take()
	if dropped > 0 {
		a.failed()
		a.cfg.Logger.Warn("announce: queue full; announcements dropped (watchers resync)", slog.Int("dropped", dropped))
	}
	var out []string
	for channel, cb := range batch {
		jobs := channel == JobChannel
		var buf []byte
		open := func(i int) {
			buf = buf[:0]
			if jobs {
				buf = append(buf, `{"at":`...)
				buf = strconv.AppendFloat(buf, float64(cb.at[i].UnixMicro())/1e6, 'f', 6, 64)
				buf = append(buf, `,"jobs":[`...)
			} else {
				buf = append(buf, '[')
			}
		}
		closePayload := func() {
			buf = append(buf, ']')
			if jobs {
				buf = append(buf, '}')
			}
			out = append(out, channel, string(buf))
		}
		open(0)
		n := 0
		for i, item := range cb.items {
			if n > 0 && len(buf)+len(item)+3 > announceMaxPayload {
				closePayload()
				open(i)
				n = 0
			}
			if n > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, item...)
			n++
		}
		closePayload()
	}
	return out
}

// announceSession is the announcer's connection, opened on demand.
type announceSession struct {
	a    *Announcer
	conn *pgx.Conn
}

// send NOTIFYs every payload in one statement (one transaction, one
// commit). On failure the connection is dropped; the next send opens a
// new one.
func (s *announceSession) send(ctx context.Context, payloads []string) error {
	if len(payloads) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), announceTimeout)
	defer cancel()
	if err := s.connect(ctx); err != nil {
		return err
	}
	channels := make([]string, 0, len(payloads)/2)
	bodies := make([]string, 0, len(payloads)/2)
	for i := 0; i < len(payloads); i += 2 {
		channels = append(channels, payloads[i])
		bodies = append(bodies, payloads[i+1])
	}
	if err := store.New(s.conn).NotifyMany(ctx, channels, bodies); err != nil {
		s.close()
		return err
	}
	return nil
}

func (s *announceSession) connect(ctx context.Context) error {
	if s.conn != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, announceTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, s.a.cfg.ConnConfig)
	if err != nil {
		return err
	}
	s.conn = conn
	return nil
}

func (s *announceSession) close() {
	if s.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		s.conn.Close(ctx) //nolint:errcheck // the connection is being abandoned
		s.conn = nil
	}
}
