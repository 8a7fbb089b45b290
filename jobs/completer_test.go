package jobs

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/bespin/bespin/internal/dbtest"
)

type recordingAnnouncer struct {
	mu   sync.Mutex
	jobs map[int64][]rivertype.JobState
}

func (a *recordingAnnouncer) AnnounceJob(id int64, state rivertype.JobState) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.jobs == nil {
		a.jobs = map[int64][]rivertype.JobState{}
	}
	a.jobs[id] = append(a.jobs[id], state)
}

// runningJobs inserts n random-text jobs and marks them running, as River's
// fetch does.
func runningJobs(t *testing.T, pool *pgxpool.Pool, n int) []int64 {
	t.Helper()
	ctx := context.Background()
	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Logger: testLogger()})
	require.NoError(t, err)
	params := make([]river.InsertManyParams, n)
	for i := range params {
		params[i] = river.InsertManyParams{Args: RandomTextArgs{Length: 3}}
	}
	res, err := rc.InsertMany(ctx, params)
	require.NoError(t, err)
	ids := make([]int64, n)
	for i, r := range res {
		ids[i] = r.Job.ID
	}
	_, err = pool.Exec(ctx, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = now() WHERE id = ANY($1)`, ids)
	require.NoError(t, err)
	return ids
}

// Concurrent completions are committed with their output, announced once
// each, and not notified by the status trigger.
func TestCompleterCompletesWithOutput(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	ctx := context.Background()
	ids := runningJobs(t, pool, 60)

	listener, err := pgx.Connect(ctx, pool.Config().ConnString())
	require.NoError(t, err)
	defer listener.Close(ctx)
	_, err = listener.Exec(ctx, "LISTEN bespin_jobs")
	require.NoError(t, err)

	announcer := &recordingAnnouncer{}
	c := NewCompleter(pool, announcer)
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() {
			require.NoError(t, c.Complete(ctx, &rivertype.JobRow{ID: id}, RandomTextOutput{Text: "abc", Length: i}))
		})
	}
	wg.Wait()

	for i, id := range ids {
		var state string
		var output RandomTextOutput
		require.NoError(t, pool.QueryRow(ctx, `SELECT state, metadata -> 'output' FROM river_job WHERE id = $1`, id).Scan(&state, &output))
		require.Equal(t, "completed", state)
		require.Equal(t, RandomTextOutput{Text: "abc", Length: i}, output)
		require.Equal(t, []rivertype.JobState{rivertype.JobStateCompleted}, announcer.jobs[id])
	}

	// The trigger was silent: the first notification is a later change.
	_, err = pool.Exec(ctx, `UPDATE river_job SET state = 'available', finalized_at = NULL WHERE id = $1`, ids[0])
	require.NoError(t, err)
	waitCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	n, err := listener.WaitForNotification(waitCtx)
	require.NoError(t, err)
	var p struct {
		Jobs [][2]json.RawMessage `json:"jobs"`
	}
	require.NoError(t, json.Unmarshal([]byte(n.Payload), &p))
	require.Len(t, p.Jobs, 1)
	require.JSONEq(t, `"available"`, string(p.Jobs[0][1]))
}

// A job changed under its worker (cancelled, say) keeps its state; its
// output is recorded and its actual state announced. A job that is gone is
// an error the worker returns.
func TestCompleterJobNotRunning(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	ctx := context.Background()
	ids := runningJobs(t, pool, 1)
	_, err := pool.Exec(ctx, `UPDATE river_job SET state = 'cancelled', finalized_at = now() WHERE id = $1`, ids[0])
	require.NoError(t, err)

	announcer := &recordingAnnouncer{}
	c := NewCompleter(pool, announcer)
	require.NoError(t, c.Complete(ctx, &rivertype.JobRow{ID: ids[0]}, RandomTextOutput{Text: "x", Length: 1}))
	var state string
	var hasOutput bool
	require.NoError(t, pool.QueryRow(ctx, `SELECT state, metadata ? 'output' FROM river_job WHERE id = $1`, ids[0]).Scan(&state, &hasOutput))
	require.Equal(t, "cancelled", state)
	require.True(t, hasOutput)
	require.Equal(t, []rivertype.JobState{rivertype.JobStateCancelled}, announcer.jobs[ids[0]])

	err = c.Complete(ctx, &rivertype.JobRow{ID: 987654321}, RandomTextOutput{})
	require.ErrorIs(t, err, rivertype.ErrNotFound)
}

// A worker leaves its job to River's completer while this process
// finishes 100 or more jobs per 50 ms (River's completer then writes at
// every tick), or while 100 completions wait here; otherwise it completes
// its job itself.
func TestCompleterHandsOffAtCapacity(t *testing.T) {
	t.Parallel()
	c := NewCompleter(nil, nil)
	now := time.Unix(1_000_000, 0)
	c.now = func() time.Time { return now }
	for range handOffCount {
		require.True(t, c.Accepting())
	}
	require.False(t, c.Accepting(), "the 101st job in one window")
	now = now.Add(handOffWindow)
	require.False(t, c.Accepting(), "the window after a busy one")
	now = now.Add(handOffWindow)
	require.True(t, c.Accepting(), "the window after a quiet one")
	now = now.Add(10 * handOffWindow)
	require.True(t, c.Accepting(), "after a pause")

	c.waiting.Add(completeHandOffAt)
	require.False(t, c.Accepting(), "completions queue here")
	c.waiting.Add(-1)
	require.True(t, c.Accepting())
}
