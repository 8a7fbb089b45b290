package realtime

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/bespin/bespin/store"
)

// Announcer sends small JSON summaries on a NOTIFY channel in batches: one
// NOTIFY (a JSON array) per batch, outside the transactions that produced
// them.
//
// Why not pg_notify in the inserting transaction: Postgres serialises the
// commits of every transaction that issued a NOTIFY (a global lock held
// through the commit's WAL flush), so one NOTIFY per webhook receipt would
// cap ingestion at one commit per WAL flush (docs/operations.md has the
// pgbench figures). Announcing after commit also means only committed rows
// are announced. What it gives up: a crash between commit and flush (at
// most announceFlushAfter) loses those announcements; streams are
// live-only dashboards, and the rows themselves are committed.
type Announcer struct {
	store   *store.Store
	channel string
	logger  *slog.Logger
	queue   chan json.RawMessage
	dropped atomic.Int64
}

const (
	// announceFlushAfter bounds how long a summary waits for companions.
	announceFlushAfter = 20 * time.Millisecond
	// announceMaxPayload keeps a batch far under NOTIFY's 8000-byte limit.
	announceMaxPayload = 6000
	announceQueue      = 4096
	// announceTimeout bounds one NOTIFY, also at shutdown.
	announceTimeout = 5 * time.Second
)

// NewAnnouncer returns an announcer that NOTIFYs on channel through st
// (made on the pool). Run must be running for anything to be sent.
func NewAnnouncer(st *store.Store, channel string, logger *slog.Logger) *Announcer {
	return &Announcer{store: st, channel: channel, logger: logger, queue: make(chan json.RawMessage, announceQueue)}
}

// Announce queues v (a small JSON object). It never blocks: when the queue
// is full the summary is dropped and counted, since a live stream must not
// slow down the request that produced it.
func (a *Announcer) Announce(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		a.logger.Error("announce: cannot encode summary", slog.String("error", err.Error()))
		return
	}
	select {
	case a.queue <- b:
	default:
		a.dropped.Add(1)
	}
}

// Run sends batches until ctx is done, then flushes what is queued. A
// batch being sent when ctx ends is still sent: shutdown stops Run before
// it closes the pool, so everything announced before is delivered.
func (a *Announcer) Run(ctx context.Context) {
	for {
		select {
		case first := <-a.queue:
			a.flush(a.collect(first))
		case <-ctx.Done():
			for {
				select {
				case first := <-a.queue:
					a.flush(a.collect(first))
				default:
					return
				}
			}
		}
	}
}

// collect gathers summaries for up to announceFlushAfter, or until the
// payload would grow past announceMaxPayload.
func (a *Announcer) collect(first json.RawMessage) []json.RawMessage {
	batch := []json.RawMessage{first}
	size := len(first) + 2
	timer := time.NewTimer(announceFlushAfter)
	defer timer.Stop()
	for {
		select {
		case next := <-a.queue:
			batch = append(batch, next)
			size += len(next) + 1
			if size >= announceMaxPayload {
				return batch
			}
		case <-timer.C:
			return batch
		}
	}
}

func (a *Announcer) flush(batch []json.RawMessage) {
	payload, _ := json.Marshal(batch)
	ctx, cancel := context.WithTimeout(context.Background(), announceTimeout)
	defer cancel()
	if err := a.store.Notify(ctx, a.channel, string(payload)); err != nil {
		a.logger.Warn("announce: NOTIFY failed; summaries lost", slog.String("channel", a.channel),
			slog.Int("summaries", len(batch)), slog.String("error", err.Error()))
	}
	if n := a.dropped.Swap(0); n > 0 {
		a.logger.Warn("announce: queue full; summaries dropped", slog.String("channel", a.channel), slog.Int64("dropped", n))
	}
}
