// Package ingest stores verified webhook deliveries exactly once, each with
// its process-webhook River job in the same transaction, answers only after
// the commit, and then announces each new receipt to ?topic=webhooks
// streams: store, enqueue and announce are one call (Ingester.Ingest).
//
// It has a package of its own because storing is more than one INSERT:
// concurrent deliveries are committed together (package groupcommit):
// everything queued while a batch commits (up to maxBatch deliveries or
// maxBatchBytes of bodies) forms the next batch, stored with one multi-row
// INSERT, one River InsertManyTx and one COMMIT. Alone, a delivery is
// committed at once; under load, one transaction and one WAL flush serve
// many deliveries instead of one each (docs/operations.md has the
// figures). A delivery whose data Postgres refuses is retried alone, so
// only it fails.
//
// Idempotency: Redis holds a fast-path key per (source, delivery id),
// asked once per batch (MGET) and set once per batch (a pipeline) before
// the answers go out. Postgres' unique index is the guarantee: with Redis
// down, or copies of one delivery racing in separate batches or instances,
// the insert that loses reads the winner's row. Copies within one batch are
// coalesced before the insert.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/riverqueue/river"

	"github.com/bespin/bespin/internal/groupcommit"
	"github.com/bespin/bespin/jobs"
	"github.com/bespin/bespin/store"
	"github.com/bespin/bespin/webhook"
)

const (
	// idempotencyTTL is how long Redis remembers a delivery. It is only the
	// fast path: Postgres' unique index catches duplicates forever after.
	idempotencyTTL     = 24 * time.Hour
	idempotencyTimeout = 250 * time.Millisecond
	// commitTimeout bounds one batch's transaction, so a hung database
	// turns into an error (503) well within webhook senders' own timeouts.
	commitTimeout = 10 * time.Second
	// maxBatchBytes caps the bodies of one batch, so large deliveries
	// (operators may allow 25 MB) are not all sent in one statement.
	maxBatchBytes = 8 << 20

	// maxBatch caps the deliveries committed together.
	maxBatch = 100
	// committers is two: whatever arrives while the batches commit forms
	// the next, like Postgres' own group commit, and a second batch
	// overlaps the first's round trips and WAL flush. On a quiet machine
	// one committer left the CPU idle while requests waited for it; two
	// measured more receipts per second at the same p99; four, more
	// smaller transactions, cost more (`make bench`; docs/operations.md).
	committers = 2
)

// Result is a stored delivery: its receipt, and whether the delivery had
// been stored before (the receipt is then the original).
type Result struct {
	Receipt   store.Receipt
	Duplicate bool
}

// Summary is what ?topic=webhooks streams carry for a new receipt: never
// the payload.
type Summary struct {
	ID        uuid.UUID `json:"id"`
	Source    string    `json:"source"`
	Event     string    `json:"event"`
	CreatedAt time.Time `json:"created_at"`
}

// Announcer sends summaries to every instance's streams after commit (a
// realtime.Announcer). It must never block.
type Announcer interface {
	Announce(summary any)
}

// Config configures an Ingester.
type Config struct {
	Pool  *pgxpool.Pool
	River *river.Client[pgx.Tx]
	// Redis holds the idempotency fast path; nil leaves it all to Postgres.
	Redis     redis.UniversalClient
	KeyPrefix string // starts every Redis key
	Logger    *slog.Logger
	// Announcer, if set, is given a Summary of each new receipt.
	Announcer Announcer
	// ObserveBatch, if set, is told the size of every batch committed.
	ObserveBatch func(deliveries int)
}

// Ingester stores deliveries. It holds no goroutine while idle, so it
// needs no stopping.
type Ingester struct {
	cfg     Config
	batcher *groupcommit.Batcher[*request]
}

// request is one Ingest call waiting for its batch.
type request struct {
	d   store.NewReceipt
	key string // Redis key; "" without a delivery id

	res    Result
	stored bool // res is a receipt this request's insert committed
	err    error
}

// New returns an Ingester.
func New(cfg Config) *Ingester {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Ingester{cfg: cfg}
	s.batcher = groupcommit.New(groupcommit.Config[*request]{
		Handle:    s.commit,
		MaxItems:  maxBatch,
		Handlers:  committers,
		Weight:    func(r *request) int { return len(r.d.Body) },
		MaxWeight: maxBatchBytes,
	})
	return s
}

// Ingest stores d, or finds the receipt it was stored as before, and
// enqueues its process-webhook job with it; once committed, a new receipt
// is announced. It returns once the receipt is committed (or the commit
// failed): a client may be told the delivery is safe only after Ingest
// returns without error. It waits for the commit even when the caller's
// context is cancelled, so an error never hides a stored delivery (a batch
// has its own deadline). d's ID is chosen here.
//
// Errors are classified by package store: ErrInvalidData when Postgres
// refused this delivery's data, ErrUnavailable when the database could not
// be reached.
func (s *Ingester) Ingest(_ context.Context, d store.NewReceipt) (Result, error) {
	r, err := s.newRequest(d)
	if err != nil {
		return Result{}, err
	}
	s.batcher.Do(r)
	if r.err == nil && r.stored && s.cfg.Announcer != nil {
		rc := r.res.Receipt
		s.cfg.Announcer.Announce(Summary{ID: rc.ID, Source: rc.Source, Event: rc.Event, CreatedAt: rc.CreatedAt})
	}
	return r.res, r.err
}

func (s *Ingester) newRequest(d store.NewReceipt) (*request, error) {
	var err error
	d.ID, err = uuid.NewV7() // time-ordered: new receipts land at the right edge of the index
	if err != nil {
		return nil, err
	}
	r := &request{d: d}
	if d.DeliveryID != "" {
		r.key = s.cfg.KeyPrefix + webhook.IdempotencyKey(d.Source, d.DeliveryID)
	}
	return r, nil
}

// commit stores one batch and answers every request in it.
func (s *Ingester) commit(batch []*request) {
	if s.cfg.ObserveBatch != nil {
		s.cfg.ObserveBatch(len(batch))
	}
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()

	todo := s.knownDuplicates(ctx, batch)

	// Copies of one delivery in this batch: the first is stored, the others
	// are its duplicates.
	var leaders []*request
	copies := map[*request][]*request{}
	first := map[string]*request{}
	for _, r := range todo {
		if r.key != "" {
			if l, ok := first[r.key]; ok {
				copies[l] = append(copies[l], r)
				continue
			}
			first[r.key] = r
		}
		leaders = append(leaders, r)
	}

	if err := s.insert(ctx, leaders); err != nil {
		if len(leaders) > 1 && errors.Is(err, store.ErrInvalidData) {
			// Postgres refused the statement, most likely for one
			// delivery's data (a \u0000 in its JSON, say), and nothing was
			// committed. Store each alone, so only that one fails.
			s.cfg.Logger.Warn("webhook batch refused; storing its deliveries one by one",
				slog.Int("deliveries", len(leaders)), slog.String("error", err.Error()))
			for _, r := range leaders {
				r.err = s.insert(ctx, []*request{r})
			}
		} else {
			for _, r := range leaders {
				r.err = err
			}
		}
	}
	s.readOriginals(ctx, leaders)
	for l, cs := range copies {
		for _, c := range cs {
			c.res, c.err = Result{Receipt: l.res.Receipt, Duplicate: true}, l.err
		}
	}

	s.remember(ctx, leaders) // copies share their leader's key and receipt
}

// insert stores reqs and their jobs in one transaction; each stored
// request gets its receipt. A request whose delivery was stored before is
// left for readOriginals. On error nothing was committed.
func (s *Ingester) insert(ctx context.Context, reqs []*request) error {
	if len(reqs) == 0 {
		return nil
	}
	rows := make([]store.NewReceipt, len(reqs))
	for i, r := range reqs {
		rows[i] = r.d
	}
	tx, err := s.cfg.Pool.Begin(ctx)
	if err != nil {
		return store.Classify(err, "begin")
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after commit

	stored, err := store.New(tx).InsertReceipts(ctx, rows)
	if err != nil {
		return err
	}
	jobArgs := make([]river.InsertManyParams, len(stored))
	for i, rc := range stored {
		jobArgs[i] = river.InsertManyParams{Args: jobs.ProcessWebhookArgs{ReceiptID: rc.ID, Source: rc.Source, Event: rc.Event}}
	}
	if len(jobArgs) > 0 {
		if _, err := s.cfg.River.InsertManyTx(ctx, tx, jobArgs); err != nil {
			return store.Classify(err, "enqueue process-webhook")
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return store.Classify(err, "commit")
	}
	byID := make(map[uuid.UUID]store.Receipt, len(stored))
	for _, rc := range stored {
		byID[rc.ID] = rc
	}
	for _, r := range reqs {
		if rc, ok := byID[r.d.ID]; ok {
			r.res, r.stored = Result{Receipt: rc}, true
		}
	}
	return nil
}

// readOriginals gives each request that insert found stored before (the
// insert waited for any concurrent copy to commit or roll back) the
// original receipt, as a duplicate.
func (s *Ingester) readOriginals(ctx context.Context, reqs []*request) {
	var keys []store.DeliveryKey
	var dups []*request
	for _, r := range reqs {
		if r.err == nil && !r.stored {
			dups = append(dups, r)
			keys = append(keys, store.DeliveryKey{Source: r.d.Source, DeliveryID: r.d.DeliveryID})
		}
	}
	if len(dups) == 0 {
		return
	}
	originals, err := store.New(s.cfg.Pool).ReceiptsByDelivery(ctx, keys)
	if err != nil {
		for _, r := range dups {
			r.err = err
		}
		return
	}
	byKey := make(map[store.DeliveryKey]store.Receipt, len(originals))
	for _, o := range originals {
		byKey[store.DeliveryKey{Source: o.Source, DeliveryID: o.DeliveryID}] = o
	}
	for _, r := range dups {
		o, ok := byKey[store.DeliveryKey{Source: r.d.Source, DeliveryID: r.d.DeliveryID}]
		if !ok { // pruned between the insert and this read
			r.err = fmt.Errorf("the original receipt of %s delivery %q is gone", r.d.Source, r.d.DeliveryID)
			continue
		}
		r.res = Result{Receipt: o, Duplicate: true}
	}
}

// knownDuplicates answers the requests whose delivery Redis remembers (and
// whose receipt still exists) and returns the others. Any failure is a
// miss: Postgres decides.
func (s *Ingester) knownDuplicates(ctx context.Context, batch []*request) []*request {
	if s.cfg.Redis == nil {
		return batch
	}
	var keys []string
	var keyed []*request
	for _, r := range batch {
		if r.key != "" {
			keys = append(keys, r.key)
			keyed = append(keyed, r)
		}
	}
	if len(keys) == 0 {
		return batch
	}
	rctx, cancel := context.WithTimeout(ctx, idempotencyTimeout)
	vals, err := s.cfg.Redis.MGet(rctx, keys...).Result()
	cancel()
	if err != nil {
		s.redisUnavailable(err)
		return batch
	}
	seen := map[*request]uuid.UUID{}
	var ids []uuid.UUID
	for i, v := range vals {
		str, _ := v.(string)
		if id, err := uuid.Parse(str); err == nil {
			seen[keyed[i]] = id
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return batch
	}
	rows, err := store.New(s.cfg.Pool).ReceiptsByID(ctx, ids)
	if err != nil {
		return batch // the insert will meet the same trouble and report it
	}
	byID := make(map[uuid.UUID]store.Receipt, len(rows))
	for _, row := range rows {
		byID[row.ID] = row
	}
	todo := batch[:0:0]
	for _, r := range batch {
		if row, ok := byID[seen[r]]; ok {
			r.res = Result{Receipt: row, Duplicate: true}
			continue
		}
		todo = append(todo, r) // new, or its receipt was pruned: store it again
	}
	return todo
}

// remember tells Redis the receipts of the deliveries just stored or found
// in Postgres, in one round trip.
func (s *Ingester) remember(ctx context.Context, reqs []*request) {
	if s.cfg.Redis == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, idempotencyTimeout)
	defer cancel()
	pipe := s.cfg.Redis.Pipeline()
	for _, r := range reqs {
		if r.key != "" && r.err == nil {
			pipe.Set(ctx, r.key, r.res.Receipt.ID.String(), idempotencyTTL)
		}
	}
	if pipe.Len() == 0 {
		return
	}
	if _, err := pipe.Exec(ctx); err != nil {
		s.redisUnavailable(err)
	}
}

func (s *Ingester) redisUnavailable(err error) {
	s.cfg.Logger.Warn("redis unavailable for webhook idempotency; relying on Postgres", slog.String("error", err.Error()))
}
