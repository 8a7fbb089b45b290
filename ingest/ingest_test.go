package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"

	"github.com/bespin/bespin/internal/dbtest"
	"github.com/bespin/bespin/internal/redistest"
	"github.com/bespin/bespin/jobs"
	"github.com/bespin/bespin/store"
	"github.com/bespin/bespin/webhook"
)

type bundle struct {
	pool   *pgxpool.Pool
	rdb    *redis.Client
	prefix string
	cfg    Config
}

// setup returns a Config on a fresh database and the real Redis, with an
// insert-only River client (enqueued jobs stay countable).
func setup(t *testing.T) *bundle {
	t.Helper()
	pool := dbtest.Pool(t)
	rdb, prefix := redistest.New(t)
	logger := slog.New(slog.DiscardHandler)
	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Logger:  logger,
		Workers: jobs.NewWorkers(jobs.WorkerDeps{Logger: logger, Pool: pool}),
	})
	require.NoError(t, err)
	return &bundle{pool: pool, rdb: rdb, prefix: prefix, cfg: Config{
		Pool: pool, River: rc, Redis: rdb, KeyPrefix: prefix, Logger: logger,
	}}
}

func delivery(id, payload string) store.NewReceipt {
	return store.NewReceipt{
		Source: "test", Event: "order.created", DeliveryID: id,
		Body: []byte(payload), Payload: []byte(payload), Headers: []byte(`{}`),
		Signature: "sha256=00", Verified: true, ClientAddr: netip.MustParseAddr("192.0.2.7"),
	}
}

func (s *Ingester) mustRequest(t *testing.T, d store.NewReceipt) *request {
	t.Helper()
	r, err := s.newRequest(d)
	require.NoError(t, err)
	return r
}

// stored reads what a user would look at: the receipts, and the receipt
// ids of the process-webhook jobs.
func (b *bundle) stored(t *testing.T) (receipts []uuid.UUID, jobReceipts []uuid.UUID) {
	t.Helper()
	ctx := context.Background()
	rows, err := b.pool.Query(ctx, "SELECT id FROM webhook_receipts ORDER BY id")
	require.NoError(t, err)
	receipts, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	require.NoError(t, err)
	rows, err = b.pool.Query(ctx, "SELECT (args->>'receipt_id')::uuid FROM river_job WHERE kind = 'process-webhook' ORDER BY 1")
	require.NoError(t, err)
	jobReceipts, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	require.NoError(t, err)
	return receipts, jobReceipts
}

func TestBatchStoresEachDeliveryOnceWithItsJob(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s := New(b.cfg)
	batch := []*request{
		s.mustRequest(t, delivery("a", `{"n":1}`)),
		s.mustRequest(t, delivery("b", `{"n":2}`)),
		s.mustRequest(t, delivery("", `{"n":3}`)),  // no delivery id: always stored
		s.mustRequest(t, delivery("a", `{"n":1}`)), // a copy of the first, in the same batch
	}
	s.commit(batch)

	var want []uuid.UUID
	for i, r := range batch[:3] {
		require.NoError(t, r.err, "delivery %d", i)
		require.False(t, r.res.Duplicate, "delivery %d", i)
		want = append(want, r.res.Receipt.ID)
	}
	require.NoError(t, batch[3].err)
	require.True(t, batch[3].res.Duplicate)
	require.Equal(t, batch[0].res.Receipt.ID, batch[3].res.Receipt.ID)
	require.Equal(t, "192.0.2.7", batch[0].res.Receipt.ClientAddr.String())
	require.Empty(t, batch[2].res.Receipt.DeliveryID)

	receipts, jobReceipts := b.stored(t)
	require.ElementsMatch(t, want, receipts)
	require.ElementsMatch(t, want, jobReceipts, "one process-webhook job per receipt")

	// Redis remembers the keyed deliveries for the fast path.
	got, err := b.rdb.Get(context.Background(), b.prefix+webhook.IdempotencyKey("test", "a")).Result()
	require.NoError(t, err)
	require.Equal(t, batch[0].res.Receipt.ID.String(), got)
}

func TestBadDeliveryFailsAloneInItsBatch(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s := New(b.cfg)
	batch := []*request{
		s.mustRequest(t, delivery("good-1", `{"n":1}`)),
		s.mustRequest(t, delivery("bad", `{"text":"nul \u0000 here"}`)), // valid JSON, refused by jsonb
		s.mustRequest(t, delivery("good-2", `{"n":2}`)),
	}
	s.commit(batch)

	var pgErr *pgconn.PgError
	require.True(t, errors.As(batch[1].err, &pgErr), "got %v", batch[1].err)
	require.Equal(t, "22P05", pgErr.Code) // untranslatable_character
	require.ErrorIs(t, batch[1].err, store.ErrInvalidData)
	require.NoError(t, batch[0].err)
	require.NoError(t, batch[2].err)

	receipts, jobReceipts := b.stored(t)
	want := []uuid.UUID{batch[0].res.Receipt.ID, batch[2].res.Receipt.ID}
	require.ElementsMatch(t, want, receipts)
	require.ElementsMatch(t, want, jobReceipts)
	n, err := b.rdb.Exists(context.Background(), b.prefix+webhook.IdempotencyKey("test", "bad")).Result()
	require.NoError(t, err)
	require.Zero(t, n, "a delivery that was not stored is not remembered")
}

// announcements records what an Ingester announces.
type announcements struct {
	mu   sync.Mutex
	sent []Summary
}

func (a *announcements) Announce(v any) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.sent = append(a.sent, v.(Summary))
}

func TestDuplicatesAreFoundWithAndWithoutRedis(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	announced := &announcements{}
	b.cfg.Announcer = announced
	s := New(b.cfg)
	first, err := s.Ingest(ctx, delivery("d-1", `{"n":1}`))
	require.NoError(t, err)
	require.False(t, first.Duplicate)

	// Through Redis, and through Postgres alone (Redis forgot, or is down).
	noRedis := b.cfg
	noRedis.Redis = nil
	for name, st := range map[string]*Ingester{"redis": s, "postgres": New(noRedis)} {
		again, err := st.Ingest(ctx, delivery("d-1", `{"n":1}`))
		require.NoError(t, err, name)
		require.True(t, again.Duplicate, name)
		require.Equal(t, first.Receipt.ID, again.Receipt.ID, name)
		require.True(t, first.Receipt.CreatedAt.Equal(again.Receipt.CreatedAt), name)
	}
	receipts, jobReceipts := b.stored(t)
	require.Equal(t, []uuid.UUID{first.Receipt.ID}, receipts)
	require.Equal(t, []uuid.UUID{first.Receipt.ID}, jobReceipts)
	require.Equal(t, []Summary{{ID: first.Receipt.ID, Source: "test", Event: "order.created", CreatedAt: first.Receipt.CreatedAt}},
		announced.sent, "a new receipt is announced once; its duplicates are not")

	// Redis still names a receipt that retention has pruned: the delivery is
	// stored again rather than answered with a receipt that is gone.
	_, err = b.pool.Exec(ctx, "DELETE FROM webhook_receipts")
	require.NoError(t, err)
	again, err := s.Ingest(ctx, delivery("d-1", `{"n":1}`))
	require.NoError(t, err)
	require.False(t, again.Duplicate)
	require.NotEqual(t, first.Receipt.ID, again.Receipt.ID)
}

// Concurrent deliveries share transactions, and each is still stored
// exactly once with its job, copies included.
func TestConcurrentDeliveriesAreCommittedTogether(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var mu sync.Mutex
	largest := 0
	cfg := b.cfg
	cfg.ObserveBatch = func(n int) {
		mu.Lock()
		defer mu.Unlock()
		largest = max(largest, n)
	}
	s := New(cfg)

	const n = 200
	results := make([]Result, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			// Every delivery is sent twice.
			results[i], errs[i] = s.Ingest(context.Background(), delivery(fmt.Sprintf("c-%d", i%(n/2)), `{"n":1}`))
		})
	}
	wg.Wait()

	byDelivery := map[string]uuid.UUID{}
	duplicates := 0
	for i := range n {
		require.NoError(t, errs[i])
		id := results[i].Receipt.DeliveryID
		if prev, ok := byDelivery[id]; ok {
			require.Equal(t, prev, results[i].Receipt.ID, "copies of %s got different receipts", id)
		}
		byDelivery[id] = results[i].Receipt.ID
		if results[i].Duplicate {
			duplicates++
		}
	}
	receipts, jobReceipts := b.stored(t)
	require.Len(t, receipts, len(byDelivery))
	require.Equal(t, n-len(byDelivery), duplicates)
	require.ElementsMatch(t, receipts, jobReceipts)
	require.Greater(t, largest, 1, "deliveries arriving while batches commit share the next one")
}

// Without a delivery id, a copy of a body from the same source within the
// window is a duplicate: in one batch, across batches, through Redis and
// through Postgres alone. Another source's copy, a copy after the window
// and, with the window off, every copy are new deliveries.
func TestDeliveriesWithoutIDAreDeduplicatedByContent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	cfg := b.cfg
	cfg.ContentWindow = time.Hour
	s := New(cfg)

	batch := []*request{
		s.mustRequest(t, delivery("", `{"n":1}`)),
		s.mustRequest(t, delivery("", `{"n":1}`)), // a copy in the same batch
		s.mustRequest(t, delivery("", `{"n":2}`)),
	}
	s.commit(batch)
	for _, r := range batch {
		require.NoError(t, r.err)
	}
	original := batch[0].res.Receipt
	require.False(t, batch[0].res.Duplicate)
	require.True(t, batch[1].res.Duplicate)
	require.Equal(t, original.ID, batch[1].res.Receipt.ID)
	require.False(t, batch[2].res.Duplicate)
	require.Empty(t, original.DeliveryID, "no delivery id is invented")

	noRedis := cfg
	noRedis.Redis = nil
	for name, st := range map[string]*Ingester{"redis": s, "postgres": New(noRedis)} {
		again, err := st.Ingest(ctx, delivery("", `{"n":1}`))
		require.NoError(t, err, name)
		require.True(t, again.Duplicate, name)
		require.Equal(t, original.ID, again.Receipt.ID, name)
	}
	other := delivery("", `{"n":1}`)
	other.Source = "other"
	res, err := s.Ingest(ctx, other)
	require.NoError(t, err)
	require.False(t, res.Duplicate, "the same body from another source is another delivery")

	// Once the original is older than the window, the body is new again,
	// through Redis (which still remembers it) and Postgres alike.
	_, err = b.pool.Exec(ctx, "UPDATE webhook_receipts SET created_at = created_at - interval '2 hours'")
	require.NoError(t, err)
	later, err := s.Ingest(ctx, delivery("", `{"n":1}`))
	require.NoError(t, err)
	require.False(t, later.Duplicate)
	again, err := New(noRedis).Ingest(ctx, delivery("", `{"n":1}`))
	require.NoError(t, err)
	require.True(t, again.Duplicate)
	require.Equal(t, later.Receipt.ID, again.Receipt.ID, "the window runs from the newest copy stored")

	receipts, jobReceipts := b.stored(t)
	require.Len(t, receipts, 4)
	require.ElementsMatch(t, receipts, jobReceipts)

	// With the window off, every copy is stored.
	off := b.cfg
	off.ContentWindow = 0
	for range 2 {
		res, err := New(off).Ingest(ctx, delivery("", `{"n":1}`))
		require.NoError(t, err)
		require.False(t, res.Duplicate)
	}
	receipts, _ = b.stored(t)
	require.Len(t, receipts, 6)
}

// A storm of copies of one body without a delivery id, posted to two
// instances at once (each with its own group commit) with Redis or
// without, makes one row and one job.
func TestContentDuplicateStormAcrossInstances(t *testing.T) {
	t.Parallel()
	for _, withRedis := range []bool{true, false} {
		t.Run(fmt.Sprintf("redis=%v", withRedis), func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			cfg := b.cfg
			cfg.ContentWindow = 24 * time.Hour
			if !withRedis {
				cfg.Redis = nil
			}
			instances := []*Ingester{New(cfg), New(cfg)}
			const n = 200
			ids := make([]uuid.UUID, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					// Two bodies, so batches hold several keys to lock.
					res, err := instances[i%2].Ingest(context.Background(), delivery("", fmt.Sprintf(`{"storm":%d}`, i%4/2)))
					require.NoError(t, err)
					ids[i] = res.Receipt.ID
				})
			}
			wg.Wait()
			receipts, jobReceipts := b.stored(t)
			require.Len(t, receipts, 2, "one row per body")
			require.ElementsMatch(t, receipts, jobReceipts, "one job per row")
			for i := range n {
				require.Contains(t, receipts, ids[i], "every copy is answered with the stored receipt")
			}
		})
	}
}
