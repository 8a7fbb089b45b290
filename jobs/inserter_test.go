package jobs

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"

	"github.com/bespin/bespin/internal/dbtest"
)

// newTestInserter returns a fresh database's pool and an Inserter on it.
func newTestInserter(t *testing.T) (*pgxpool.Pool, *Inserter) {
	t.Helper()
	pool := dbtest.Pool(t)
	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Logger: testLogger()})
	require.NoError(t, err)
	return pool, NewInserter(rc)
}

// Concurrent inserts each get their own committed job, with their own
// args and options, whether or not they shared a transaction.
func TestInserterInsertsEachJob(t *testing.T) {
	t.Parallel()
	pool, ins := newTestInserter(t)
	ctx := context.Background()

	const n = 300
	ids := make([]int64, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for k := range n {
		wg.Go(func() {
			res, err := ins.Insert(ctx, RandomTextArgs{Length: k + 1}, &river.InsertOpts{Metadata: []byte(`{"caller":"` + strconv.Itoa(k) + `"}`)})
			if errs[k] = err; err == nil {
				ids[k] = res.Job.ID
			}
		})
	}
	wg.Wait()
	for k, err := range errs {
		require.NoError(t, err, "caller %d", k)
	}

	rows, err := pool.Query(ctx, `SELECT id, args, metadata FROM river_job`)
	require.NoError(t, err)
	byID := map[int64][2][]byte{}
	for rows.Next() {
		var id int64
		var args, meta []byte
		require.NoError(t, rows.Scan(&id, &args, &meta))
		byID[id] = [2][]byte{args, meta}
	}
	require.NoError(t, rows.Err())
	require.Len(t, byID, n, "one row per caller")
	for k, id := range ids {
		row, ok := byID[id]
		require.True(t, ok, "caller %d's job %d is committed", k, id)
		var args RandomTextArgs
		require.NoError(t, json.Unmarshal(row[0], &args))
		require.Equal(t, k+1, args.Length, "caller %d's job has its args", k)
		var meta map[string]any
		require.NoError(t, json.Unmarshal(row[1], &meta))
		require.Equal(t, strconv.Itoa(k), meta["caller"], "caller %d's job has its metadata", k)
	}
}

// When the batch cannot be committed, every caller in it gets the error
// and nothing is stored.
func TestInserterReportsFailureToEveryCaller(t *testing.T) {
	t.Parallel()
	pool, ins := newTestInserter(t)
	ctx := context.Background()
	_, err := pool.Exec(ctx, `ALTER TABLE river_job ADD CONSTRAINT test_refuse CHECK (false) NOT VALID`)
	require.NoError(t, err)

	var wg sync.WaitGroup
	errs := make([]error, 50)
	for k := range errs {
		wg.Go(func() {
			_, errs[k] = ins.Insert(ctx, RandomTextArgs{Length: 1}, nil)
		})
	}
	wg.Wait()
	for k, err := range errs {
		require.ErrorContains(t, err, "test_refuse", "caller %d", k)
	}
	var stored int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM river_job`).Scan(&stored))
	require.Zero(t, stored)
}
