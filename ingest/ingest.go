// Package ingest stores verified webhook deliveries exactly once, each with
// its process-webhook River job in the same transaction, and answers only
// after the commit.
//
// It has a package of its own because storing is more than one INSERT:
// concurrent deliveries are committed together (package groupcommit):
// everything queued while a batch commits (up to maxBatch deliveries or
// maxBatchBytes of bodies) forms the next batch, stored with one multi-row
// INSERT, one River InsertManyTx and one COMMIT. Alone, a delivery is
// committed at once; under load, one transaction and one WAL flush serve
// many deliveries instead of one each, which is what lets ingestion keep
// up with plain INSERTs (see `make bench`). A delivery whose data breaks
// the batch's statement is retried alone, so only it fails.
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
	"net/netip"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/riverqueue/river"

	"github.com/bespin/bespin/db"
	"github.com/bespin/bespin/internal/groupcommit"
	"github.com/bespin/bespin/jobs"
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
	// defaultCommitters is one: whatever arrives while a batch commits
	// forms the next, like Postgres' own group commit. On the 2-core bench
	// machine (webhooks, concurrency 64) one committer gave p99 28 ms and
	// 1.0-1.16x plain INSERTs, two 37 ms and 0.88-0.96x, four 49-58 ms and
	// 0.72-0.82x: fewer, larger transactions cost Postgres less.
	defaultCommitters = 1
)

// Delivery is a verified delivery to store.
type Delivery struct {
	Source string
	Event  string
	// DeliveryID identifies the delivery at its sender; "" when it carried
	// none, in which case it cannot be de-duplicated.
	DeliveryID string
	// Body is the request body exactly as received; Payload its JSON.
	Body    []byte
	Payload []byte
	// Headers are the request headers, redacted, as a JSON object.
	Headers    []byte
	Signature  string
	ClientAddr netip.Addr // zero when unknown
}

// Result is a stored delivery: its receipt, and whether the delivery had
// been stored before (the receipt is then the original).
type Result struct {
	Receipt   db.WebhookReceipt
	Duplicate bool
}

// Config configures a Store.
type Config struct {
	Pool  *pgxpool.Pool
	River *river.Client[pgx.Tx]
	// Redis holds the idempotency fast path; nil leaves it all to Postgres.
	Redis     redis.UniversalClient
	KeyPrefix string // starts every Redis key
	Logger    *slog.Logger
	// Committers caps the transactions in flight at once (default 1).
	Committers int
	// ObserveBatch, if set, is told the size of every batch committed.
	ObserveBatch func(deliveries int)
}

// Store stores deliveries. It holds no goroutine while idle, so it needs
// no stopping.
type Store struct {
	cfg     Config
	batcher *groupcommit.Batcher[*request]
}

// request is one Store call waiting for its batch.
type request struct {
	d   Delivery
	id  uuid.UUID // the receipt id, if this delivery is stored
	key string    // Redis key; "" without a delivery id

	res    Result
	stored bool // res is a receipt this request's insert committed
	err    error
}

// New returns a Store.
func New(cfg Config) *Store {
	if cfg.Committers <= 0 {
		cfg.Committers = defaultCommitters
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{cfg: cfg}
	s.batcher = groupcommit.New(groupcommit.Config[*request]{
		Handle:    s.commit,
		MaxItems:  maxBatch,
		Handlers:  cfg.Committers,
		Weight:    func(r *request) int { return len(r.d.Body) },
		MaxWeight: maxBatchBytes,
	})
	return s
}

// Store stores d, or finds the receipt it was stored as before, and
// enqueues its process-webhook job with it. It returns once the receipt
// is committed (or the commit failed): a client may be told the delivery
// is safe only after Store returns without error. It waits for the commit
// even when the caller's context is cancelled, so an error never hides a
// stored delivery (a batch has its own deadline).
func (s *Store) Store(_ context.Context, d Delivery) (Result, error) {
	r, err := s.newRequest(d)
	if err != nil {
		return Result{}, err
	}
	s.batcher.Do(r)
	return r.res, r.err
}

func (s *Store) newRequest(d Delivery) (*request, error) {
	id, err := uuid.NewV7() // time-ordered: new receipts land at the right edge of the index
	if err != nil {
		return nil, err
	}
	r := &request{d: d, id: id}
	if d.DeliveryID != "" {
		r.key = s.cfg.KeyPrefix + webhook.IdempotencyKey(d.Source, d.DeliveryID)
	}
	return r, nil
}

// commit stores one batch and answers every request in it.
func (s *Store) commit(batch []*request) {
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
		var pgErr *pgconn.PgError
		if len(leaders) > 1 && errors.As(err, &pgErr) && !connectionLost(pgErr) {
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

// connectionLost reports errors that are about the connection or the
// server's state, not the statement: retrying deliveries one by one would
// only repeat them.
func connectionLost(e *pgconn.PgError) bool {
	switch e.Code[:2] {
	case "08", "53", "57", "58":
		return true
	}
	return false
}

// insert stores reqs and their jobs in one transaction; each stored
// request gets its receipt. A request whose delivery was stored before is
// left for readOriginals. On error nothing was committed.
func (s *Store) insert(ctx context.Context, reqs []*request) error {
	if len(reqs) == 0 {
		return nil
	}
	p := db.WebhookReceiptInsertManyParams{
		Ids:         make([]uuid.UUID, len(reqs)),
		Sources:     make([]string, len(reqs)),
		Events:      make([]string, len(reqs)),
		DeliveryIds: make([]string, len(reqs)),
		Bodies:      make([][]byte, len(reqs)),
		Payloads:    make([][]byte, len(reqs)),
		Headers:     make([][]byte, len(reqs)),
		Signatures:  make([]string, len(reqs)),
		Verified:    make([]bool, len(reqs)),
		ClientAddrs: make([]string, len(reqs)),
	}
	for i, r := range reqs {
		d := r.d
		p.Ids[i], p.Sources[i], p.Events[i], p.DeliveryIds[i] = r.id, d.Source, d.Event, d.DeliveryID
		p.Bodies[i], p.Payloads[i], p.Headers[i] = d.Body, d.Payload, d.Headers
		p.Signatures[i], p.Verified[i] = d.Signature, true
		if d.ClientAddr.IsValid() {
			p.ClientAddrs[i] = d.ClientAddr.WithZone("").String() // inet has no zones
		}
	}

	tx, err := s.cfg.Pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after commit

	rows, err := db.New().WebhookReceiptInsertMany(ctx, tx, p)
	if err != nil {
		return fmt.Errorf("insert receipts: %w", err)
	}
	jobArgs := make([]river.InsertManyParams, len(rows))
	for i, row := range rows {
		jobArgs[i] = river.InsertManyParams{Args: jobs.ProcessWebhookArgs{ReceiptID: row.ID, Source: row.Source, Event: row.Event}}
	}
	if len(jobArgs) > 0 {
		if _, err := s.cfg.River.InsertManyTx(ctx, tx, jobArgs); err != nil {
			return fmt.Errorf("enqueue process-webhook: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	stored := make(map[uuid.UUID]db.WebhookReceipt, len(rows))
	for _, row := range rows {
		stored[row.ID] = row
	}
	for _, r := range reqs {
		if row, ok := stored[r.id]; ok {
			r.res, r.stored = Result{Receipt: row}, true
		}
	}
	return nil
}

// readOriginals gives each request that insert found stored before (the
// insert waited for any concurrent copy to commit or roll back) the
// original receipt, as a duplicate.
func (s *Store) readOriginals(ctx context.Context, reqs []*request) {
	var p db.WebhookReceiptGetByDeliveryIDsParams
	var dups []*request
	for _, r := range reqs {
		if r.err == nil && !r.stored {
			dups = append(dups, r)
			p.Sources = append(p.Sources, r.d.Source)
			p.DeliveryIds = append(p.DeliveryIds, r.d.DeliveryID)
		}
	}
	if len(dups) == 0 {
		return
	}
	originals, err := db.New().WebhookReceiptGetByDeliveryIDs(ctx, s.cfg.Pool, p)
	if err != nil {
		for _, r := range dups {
			r.err = fmt.Errorf("read original receipt: %w", err)
		}
		return
	}
	byKey := make(map[[2]string]db.WebhookReceipt, len(originals))
	for _, o := range originals {
		byKey[[2]string{o.Source, *o.DeliveryID}] = o
	}
	for _, r := range dups {
		o, ok := byKey[[2]string{r.d.Source, r.d.DeliveryID}]
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
func (s *Store) knownDuplicates(ctx context.Context, batch []*request) []*request {
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
	rows, err := db.New().WebhookReceiptGetByIDs(ctx, s.cfg.Pool, ids)
	if err != nil {
		return batch // the insert will meet the same trouble and report it
	}
	byID := make(map[uuid.UUID]db.WebhookReceipt, len(rows))
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
func (s *Store) remember(ctx context.Context, reqs []*request) {
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

func (s *Store) redisUnavailable(err error) {
	s.cfg.Logger.Warn("redis unavailable for webhook idempotency; relying on Postgres", slog.String("error", err.Error()))
}
