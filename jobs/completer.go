package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/bespin/bespin/internal/groupcommit"
	"github.com/bespin/bespin/store"
)

// Completer completes jobs for their workers, with their output, and
// commits concurrent completions together: whatever arrives while one
// batch commits forms the next (package groupcommit). A lone completion is
// committed at once, in a transaction of its own; under load one
// transaction, one statement and one WAL flush serve many jobs. For a
// worker whose only write is its output (random-text); a worker with
// writes of its own completes in its own transaction (see Completion).
//
// Why not a transaction per job, as Completion does: measured at capacity
// (docs/operations.md), concurrent single-job completions ran at a tenth
// of River's own drain. Each commit waits for its WAL flush, and concurrent
// single-row UPDATEs of river_job queue on buffer locks: every completion
// writes metadata (the output), so every one inserts into the pending
// lists of river_job's GIN indexes. River's batch completer avoids both by
// writing many completions in one statement, but on a fixed cadence (up to
// 250 ms); this does the same as soon as the work is done.
//
// The statement is River's own (the driver's JobSetStateIfRunningMany, as
// used by JobCompleteTx and River's completer), in a transaction that
// names its jobs in bespin.announced_jobs, so the status triggers stay
// silent; the announcer is told after commit.
//
// At high rates a worker leaves its job to River instead (Accepting).
// Self-completion costs a second statement per job: River's completer
// processes every job a worker returns, completed here or not (River has
// no way to skip it). It pays for itself while River's completer would be
// slow, that is below handOffCount completions per handOffWindow (River
// writes on its 50 ms tick only once 100 wait, otherwise every 250 ms).
// Once a process finishes that many jobs per tick, River's completer
// writes them at every tick anyway, and the status trigger notifies them
// (one NOTIFY per 100 jobs): as timely, and cheaper. The same holds when
// completions queue here (completeHandOffAt waiting).
type Completer struct {
	pool      *pgxpool.Pool
	announcer StatusAnnouncer
	batcher   *groupcommit.Batcher[*completion]
	waiting   atomic.Int64 // Complete calls not yet answered
	now       func() time.Time

	mu       sync.Mutex
	window   int64 // the current handOffWindow, counted from the epoch
	arrivals int   // Accepting calls in the current window
	previous int   // and in the one before
}

// completion is one Complete call waiting for its batch.
type completion struct {
	id       int64
	metadata []byte // {"output": ...}
	state    rivertype.JobState
	err      error
}

const (
	// completeMaxBatch caps one statement's jobs.
	completeMaxBatch = 1000
	// handOffWindow and handOffCount are River's batch completer's tick
	// and the backlog from which it writes at every tick (internal/
	// jobcompleter in River 0.51; see the type's comment).
	handOffWindow = 50 * time.Millisecond
	handOffCount  = 100
	// completeHandOffAt is the number of waiting completions from which
	// workers leave their jobs to River's completer.
	completeHandOffAt = 100
	// completeCommitters is how many batches commit at once: a second
	// overlaps one batch's round trips and WAL flush with the next.
	completeCommitters = 2
	// completeTimeout bounds one batch's transaction.
	completeTimeout = 30 * time.Second
)

// NewCompleter returns a Completer committing on pool. announcer may be
// nil: the status triggers then NOTIFY the completions (correct, slower).
func NewCompleter(pool *pgxpool.Pool, announcer StatusAnnouncer) *Completer {
	c := &Completer{pool: pool, announcer: announcer, now: time.Now}
	c.batcher = groupcommit.New(groupcommit.Config[*completion]{Handle: c.commit, MaxItems: completeMaxBatch, Handlers: completeCommitters})
	return c
}

// Accepting reports whether a worker that has finished its work should
// complete its job here (see the type's comment); when not, the worker
// records its output with river.RecordOutput and returns, and River
// completes the job. Call it once per job.
func (c *Completer) Accepting() bool {
	w := c.now().UnixNano() / int64(handOffWindow)
	c.mu.Lock()
	switch w {
	case c.window:
	case c.window + 1:
		c.previous, c.arrivals = c.arrivals, 0
	default:
		c.previous, c.arrivals = 0, 0
	}
	c.window = w
	c.arrivals++
	fast := c.arrivals <= handOffCount && c.previous < handOffCount
	c.mu.Unlock()
	return fast && c.waiting.Load() < completeHandOffAt
}

// Complete marks job completed with output recorded on it (as River's
// RecordOutput records it: metadata "output", which River UI shows) and
// returns once that is committed. It returns an error when it could not
// be; the worker returns it and River handles it as any worker error. A
// job that is no longer running (cancelled or changed under its worker)
// keeps its state; only its output is recorded, as JobCompleteTx does.
func (c *Completer) Complete(_ context.Context, job *rivertype.JobRow, output any) error {
	out, err := json.Marshal(output)
	if err != nil {
		return fmt.Errorf("encode output: %w", err)
	}
	meta, err := json.Marshal(map[string]json.RawMessage{rivertype.MetadataKeyOutput: out})
	if err != nil {
		return fmt.Errorf("encode output: %w", err)
	}
	// Not the job's context: a batch serves many jobs, and an answer is
	// needed either way (committed or not) before the worker returns.
	comp := &completion{id: job.ID, metadata: meta}
	c.waiting.Add(1)
	defer c.waiting.Add(-1)
	c.batcher.Do(comp)
	return comp.err
}

// commit completes one batch in one transaction and announces it.
func (c *Completer) commit(batch []*completion) {
	ctx, cancel := context.WithTimeout(context.Background(), completeTimeout)
	defer cancel()
	states, err := c.complete(ctx, batch)
	for _, comp := range batch {
		switch st, ok := states[comp.id]; {
		case err != nil:
			comp.err = err
		case !ok:
			comp.err = fmt.Errorf("complete job %d: %w", comp.id, rivertype.ErrNotFound)
		default:
			comp.state = st
		}
	}
}

func (c *Completer) complete(ctx context.Context, batch []*completion) (map[int64]rivertype.JobState, error) {
	now := time.Now().UTC()
	p := &riverdriver.JobSetStateIfRunningManyParams{Now: &now}
	ids := make([]int64, len(batch))
	for i, comp := range batch {
		ids[i] = comp.id
		done := riverdriver.JobSetStateCompleted(comp.id, now, comp.metadata)
		p.ID = append(p.ID, done.ID)
		p.Attempt = append(p.Attempt, done.Attempt)
		p.ErrData = append(p.ErrData, done.ErrData)
		p.FinalizedAt = append(p.FinalizedAt, done.FinalizedAt)
		p.MetadataDoMerge = append(p.MetadataDoMerge, done.MetadataDoMerge)
		p.MetadataUpdates = append(p.MetadataUpdates, done.MetadataUpdates)
		p.ScheduledAt = append(p.ScheduledAt, done.ScheduledAt)
		p.State = append(p.State, done.State)
	}

	tx, err := c.pool.Begin(ctx)
	if err != nil {
		return nil, store.Classify(err, "begin")
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after commit
	if c.announcer != nil {
		if err := store.New(tx).MarkJobsAnnounced(ctx, ids...); err != nil {
			return nil, err
		}
	}
	rows, err := (*riverpgxv5.Driver)(nil).UnwrapExecutor(tx).JobSetStateIfRunningMany(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("complete jobs: %w", err)
	}
	states := make(map[int64]rivertype.JobState, len(rows))
	for _, r := range rows {
		states[r.ID] = r.State
	}
	err = tx.Commit(ctx)
	if c.announcer != nil {
		// Also when Commit failed: see completeInTx.
		for _, r := range rows {
			c.announcer.AnnounceJob(r.ID, r.State)
		}
	}
	if err != nil {
		return nil, store.Classify(err, "commit")
	}
	return states, nil
}
