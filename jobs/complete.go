package jobs

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/bespin/bespin/store"
)

// StatusAnnouncer is told, after commit, the state of each job a worker
// completed itself. realtime.Announcer implements it: it sends one batched
// NOTIFY on bespin_jobs for whatever accumulated, outside any data
// transaction. It must never block.
type StatusAnnouncer interface {
	AnnounceJob(id int64, state rivertype.JobState)
}

// Completion is what a worker with writes of its own (process-webhook)
// needs to complete its job in the same transaction as those writes: the
// pool its transaction runs on and the process's announcer. A worker whose
// only write is its output uses a Completer, which commits concurrent
// completions together.
//
// Why workers complete their own jobs: River's batch completer writes
// completions on a fixed cadence (every 250 ms unless 100 are waiting;
// not configurable in River 0.51), and a watcher hears of a completion
// only once it is written. A worker that completes its job in its own
// transaction (river.JobCompleteTx, with the recorded output and any
// writes of its own) makes it visible as soon as the work is done.
//
// Why that transaction sends no NOTIFY: Postgres serialises the commits of
// notifying transactions through their WAL flush, so one notifying commit
// per job made everything slower (docs/operations.md). The transaction
// names the job in bespin.announced_jobs (store.MarkJobsAnnounced), which
// the status triggers skip, and after commit the announcer is told.
type Completion struct {
	Pool *pgxpool.Pool
	// Announcer, if nil, leaves the announcement to the status triggers
	// (a NOTIFY in the completing transaction): correct, but slower.
	Announcer StatusAnnouncer
}

// completeInTx runs fn and completes job in one transaction, then
// announces the job's new state. Errors are returned for River to handle
// as it handles any worker error: a retry, or, when the job's context was
// cancelled (River UI, JobCancel, shutdown), River's cancel or
// put-back-for-later. fn, if not nil, runs first; its error rolls back
// everything.
//
// When c has no pool, the job is left to River's completer (the worker
// returns nil and River completes it).
func completeInTx[T river.JobArgs](ctx context.Context, c Completion, job *river.Job[T], fn func(context.Context, pgx.Tx) error) error {
	if c.Pool == nil {
		if fn != nil {
			return errors.New("jobs: a worker that writes in its own transaction needs Completion.Pool")
		}
		return nil
	}
	tx, err := c.Pool.Begin(ctx)
	if err != nil {
		return store.Classify(err, "begin")
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after commit
	if c.Announcer != nil {
		if err := store.New(tx).MarkJobsAnnounced(ctx, job.ID); err != nil {
			return err
		}
	}
	if fn != nil {
		if err := fn(ctx, tx); err != nil {
			return err
		}
	}
	done, err := river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx, job)
	if err != nil {
		return fmt.Errorf("complete job %d: %w", job.ID, err)
	}
	err = tx.Commit(ctx)
	if c.Announcer != nil {
		// Also when Commit failed: its outcome is then unknown (the
		// connection may have died after Postgres committed), and an
		// announcement only makes feeds re-read the row, which is the
		// truth either way. Without it a committed completion would reach
		// watchers only at the listener's next periodic resync.
		c.Announcer.AnnounceJob(job.ID, done.State)
	}
	if err != nil {
		return store.Classify(err, "commit")
	}
	return nil
}
