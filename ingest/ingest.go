// Package ingest stores verified webhook deliveries exactly once, each with
// its process-webhook River job in the same transaction, answers only after
// the commit, and then announces each new receipt to ?topic=webhooks
// streams: store, enqueue and announce are one call (Ingester.Ingest).
//
// It has a package of its own because storing is more than one INSERT:
// concurrent deliveries are committed together (package groupcommit):
// everything queued while a batch commits (up to maxBatch deliveries or
// maxBatchBytes of bodies) forms the next batch, stored with one multi-row
// INSERT, one River InsertManyFastTx (a COPY) and one COMMIT. Alone, a
// delivery is committed at once; under load, one transaction and one WAL
// flush serve many deliveries instead of one each (docs/operations.md has
// the figures). A delivery whose data Postgres refuses is retried alone, so
// only it fails.
//
// # Idempotency
//
// A delivery is the same as one stored before when it has the same source
// and delivery id (forever), or, when it has no delivery id, the same
// source and body (SHA-256) within Config.ContentWindow
// (WEBHOOK_DEDUPE_WINDOW). Redis holds a fast-path key per delivery, asked
// once per batch (MGET) and set once per batch (a pipeline) before the
// answers go out. Postgres is the guarantee, with Redis down too, for
// copies in one batch (coalesced before the insert), in separate batches
// and on separate instances:
//
//   - By delivery id: the unique index on (source, delivery_id). The insert
//     that loses waits for the winner to commit and reads its row.
//   - By content: a unique index cannot express "within the last 24
//     hours" (it is forever), so the window is enforced in the batch's
//     transaction instead: first a transaction-scoped advisory lock per
//     (source, body hash), then an insert that skips a delivery when a
//     receipt with that hash was created within the window. The lock
//     serialises the check-and-insert of one body across transactions and
//     instances, and it is released only once the winner's commit is
//     visible, so the next holder's insert sees the row. Locks are taken
//     before any row is inserted and in key order, so two batches never
//     wait for each other in a cycle. The window slides on created_at, on
//     Postgres' clock. It costs one statement per batch that holds such
//     deliveries, and the index on (source, content_sha256, created_at).
//     The alternatives were worse: a time-bucketed key under a unique index
//     is not a window (two copies a second apart on either side of a
//     bucket boundary are both stored), and a unique index on the hash
//     that rows leave after the window needs old receipts rewritten by a
//     sweeper, the window ending whenever it runs.
package ingest

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/riverqueue/river"

	"github.com/bespin/bespin/internal/groupcommit"
	"github.com/bespin/bespin/internal/redisbreaker"
	"github.com/bespin/bespin/jobs"
	"github.com/bespin/bespin/store"
	"github.com/bespin/bespin/webhook"
)

const (
	// idempotencyTTL is how long Redis remembers a delivery by its id. It
	// is only the fast path: Postgres' unique index catches duplicates
	// forever after. Deliveries keyed by content are remembered for the
	// window.
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
	// ContentWindow is how long a delivery without a delivery id makes a
	// copy of its body (same source) a duplicate; 0 stores every copy.
	ContentWindow time.Duration
	Logger        *slog.Logger
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
	d store.NewReceipt
	// key is the Redis key, and what copies in a batch are coalesced by;
	// "" when the delivery is not de-duplicated (no delivery id, and the
	// content window is off).
	key string
	// content is set when the delivery is de-duplicated by its body.
	content *store.ContentKey

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
	r := &request{}
	switch {
	case d.DeliveryID != "":
		r.key = s.cfg.KeyPrefix + webhook.IdempotencyKey(d.Source, d.DeliveryID)
	case s.cfg.ContentWindow > 0:
		sum := sha256.Sum256(d.Body)
		d.ContentSHA256 = sum[:]
		r.content = &store.ContentKey{Source: d.Source, SHA256: sum}
		r.key = s.cfg.KeyPrefix + "wh:" + d.Source + ":body:" + hex.EncodeToString(sum[:])
	}
	r.d = d
	return r, nil
}

// ttl is how long Redis remembers r's delivery.
func (s *Ingester) ttl(r *request) time.Duration {
	if r.content != nil {
		return s.cfg.ContentWindow
	}
	return idempotencyTTL
}

// lockKey is the advisory lock that serialises the storing of one body
// from one source (see the package comment): 64 bits of a hash of both.
func lockKey(k store.ContentKey) int64 {
	h := sha256.New()
	h.Write([]byte(k.Source))
	h.Write([]byte{0})
	h.Write(k.SHA256[:])
	return int64(binary.BigEndian.Uint64(h.Sum(nil)))
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
	var locks []int64
	for i, r := range reqs {
		rows[i] = r.d
		if r.content != nil {
			locks = append(locks, lockKey(*r.content))
		}
	}
	// In key order, like the locks: two instances inserting the same
	// delivery ids then wait for each other in one direction only, never
	// in a cycle (a deadlock).
	slices.SortFunc(rows, func(a, b store.NewReceipt) int {
		return cmp.Or(cmp.Compare(a.Source, b.Source), cmp.Compare(a.DeliveryID, b.DeliveryID))
	})
	slices.Sort(locks)
	tx, err := s.cfg.Pool.Begin(ctx)
	if err != nil {
		return store.Classify(err, "begin")
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after commit

	st := store.New(tx)
	if len(locks) > 0 {
		if err := st.LockContent(ctx, locks); err != nil {
			return err
		}
	}
	stored, err := st.InsertReceipts(ctx, rows, s.cfg.ContentWindow)
	if err != nil {
		return err
	}
	jobArgs := make([]river.InsertManyParams, len(stored))
	for i, rc := range stored {
		jobArgs[i] = river.InsertManyParams{Args: jobs.ProcessWebhookArgs{ReceiptID: rc.ID, Source: rc.Source, Event: rc.Event}}
	}
	// COPY (InsertManyFastTx), not InsertManyTx's INSERT ... RETURNING:
	// nothing here reads the inserted jobs back, and process-webhook jobs
	// have no unique options (which only InsertManyTx handles). Measured
	// with `-scenarios webhooks`, five runs each: Postgres CPU per
	// delivery 141 us instead of 173, receipts/s +6%.
	if len(jobArgs) > 0 {
		if _, err := s.cfg.River.InsertManyFastTx(ctx, tx, jobArgs); err != nil {
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
// insert waited for any concurrent copy to commit) the original receipt,
// as a duplicate.
func (s *Ingester) readOriginals(ctx context.Context, reqs []*request) {
	var byDelivery, byContent []*request
	for _, r := range reqs {
		switch {
		case r.err != nil || r.stored:
		case r.content != nil:
			byContent = append(byContent, r)
		default:
			byDelivery = append(byDelivery, r)
		}
	}
	st := store.New(s.cfg.Pool)
	if len(byDelivery) > 0 {
		keys := make([]store.DeliveryKey, len(byDelivery))
		for i, r := range byDelivery {
			keys[i] = store.DeliveryKey{Source: r.d.Source, DeliveryID: r.d.DeliveryID}
		}
		originals, err := st.ReceiptsByDelivery(ctx, keys)
		answerDuplicates(byDelivery, originals, err, func(rc store.Receipt) store.DeliveryKey {
			return store.DeliveryKey{Source: rc.Source, DeliveryID: rc.DeliveryID}
		}, func(r *request) store.DeliveryKey {
			return store.DeliveryKey{Source: r.d.Source, DeliveryID: r.d.DeliveryID}
		})
	}
	if len(byContent) > 0 {
		keys := make([]store.ContentKey, len(byContent))
		for i, r := range byContent {
			keys[i] = *r.content
		}
		originals, err := st.ReceiptsByContent(ctx, keys)
		answerDuplicates(byContent, originals, err, func(rc store.Receipt) store.ContentKey {
			return store.ContentKey{Source: rc.Source, SHA256: [32]byte(rc.ContentSHA256)}
		}, func(r *request) store.ContentKey { return *r.content })
	}
}

// answerDuplicates answers each request in dups with the original whose
// key matches its own, or with err.
func answerDuplicates[K comparable](dups []*request, originals []store.Receipt, err error, keyOf func(store.Receipt) K, reqKey func(*request) K) {
	if err != nil {
		for _, r := range dups {
			r.err = err
		}
		return
	}
	byKey := make(map[K]store.Receipt, len(originals))
	for _, o := range originals {
		byKey[keyOf(o)] = o
	}
	for _, r := range dups {
		o, ok := byKey[reqKey(r)]
		if !ok { // pruned between the insert and this read
			r.err = fmt.Errorf("the original receipt of a %s delivery is gone", r.d.Source)
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
		row, ok := byID[seen[r]]
		// A body seen longer ago than the window is new again (Redis may
		// still hold its key after WEBHOOK_DEDUPE_WINDOW was shortened).
		if ok && (r.content == nil || time.Since(row.CreatedAt) < s.cfg.ContentWindow) {
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
			pipe.Set(ctx, r.key, r.res.Receipt.ID.String(), s.ttl(r))
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
	s.cfg.Logger.Log(context.Background(), redisbreaker.LogLevel(err), "redis unavailable for webhook idempotency; relying on Postgres",
		slog.String("error", err.Error()))
}
