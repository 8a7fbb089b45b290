package realtime

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"

	"github.com/bespin/bespin/internal/dbtest"
	"github.com/bespin/bespin/jobs"
)

// listen returns a connection LISTENing on bespin_jobs and a function that
// collects the next n payloads.
func listen(t *testing.T, dbURL string) func(n int) []notification {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	_, err = conn.Exec(ctx, "LISTEN "+JobChannel)
	require.NoError(t, err)
	return func(n int) []notification {
		t.Helper()
		var out []notification
		for len(out) < n {
			waitCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
			msg, err := conn.WaitForNotification(waitCtx)
			cancel()
			require.NoError(t, err, "waiting for notification %d of %d", len(out)+1, n)
			require.Less(t, len(msg.Payload), 8000)
			p, err := parseNotification(msg.Payload)
			require.NoError(t, err, msg.Payload)
			out = append(out, p)
		}
		return out
	}
}

func pairs(t *testing.T, ns []notification) [][2]any {
	t.Helper()
	var out [][2]any
	for _, n := range ns {
		for _, c := range n.Jobs {
			out = append(out, [2]any{c.ID, c.State})
		}
	}
	return out
}

// One statement touching many jobs costs one NOTIFY per 100 jobs; a
// statement that changes no state (or deletes finished jobs) costs none.
func TestTriggerBatchesPerStatement(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	dbURL := pool.Config().ConnString()
	next := listen(t, dbURL)
	ctx := context.Background()

	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	require.NoError(t, err)
	params := make([]river.InsertManyParams, 250)
	for i := range params {
		params[i] = river.InsertManyParams{Args: jobs.RandomTextArgs{Length: 1}}
	}
	_, err = rc.InsertMany(ctx, params)
	require.NoError(t, err)
	// Inserts notify nothing (see migration 000010); the first
	// notifications are for the state change that follows.
	_, err = pool.Exec(ctx, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = now()`)
	require.NoError(t, err)
	ns := next(3)
	seen := map[int64]bool{}
	for _, p := range pairs(t, ns) {
		require.Equal(t, "running", p[1], "an insert was notified")
		seen[p[0].(int64)] = true
	}
	require.Len(t, seen, 250, "each job once")
	require.Len(t, ns[0].Jobs, 100)
	require.Len(t, ns[1].Jobs, 100)
	require.Len(t, ns[2].Jobs, 50)
	require.Greater(t, ns[0].At, float64(time.Now().Add(-time.Minute).Unix()))

	// A metadata-only update notifies nothing; the next notification is
	// the state change after it.
	_, err = pool.Exec(ctx, `UPDATE river_job SET metadata = '{"x": 1}'`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `UPDATE river_job SET state = 'completed', finalized_at = now() WHERE id IN (SELECT id FROM river_job ORDER BY id LIMIT 3)`)
	require.NoError(t, err)
	got := pairs(t, next(1))
	require.Len(t, got, 3)
	require.Equal(t, "completed", got[0][1])

	// Deleting finished jobs (River's cleaner) notifies nothing; deleting
	// an unfinished one says "deleted".
	_, err = pool.Exec(ctx, `DELETE FROM river_job WHERE state = 'completed'`)
	require.NoError(t, err)
	var unfinished int64
	require.NoError(t, pool.QueryRow(ctx, `DELETE FROM river_job WHERE id = (SELECT min(id) FROM river_job) RETURNING id`).Scan(&unfinished))
	got = pairs(t, next(1))
	require.Equal(t, [][2]any{{unfinished, "deleted"}}, got)
}
