package jobs

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/bespin/bespin/internal/groupcommit"
)

// Inserter inserts jobs for concurrent callers together: whatever arrives
// while one batch commits forms the next (package groupcommit), inserted
// by River's InsertMany in one transaction, with one commit and one WAL
// flush. A lone insert is committed at once, in a transaction of its own.
// Job creation over HTTP uses it.
//
// Why: a burst of creations (e2e-burst: 1,000/s) was a commit each, and
// those commits queued on the WAL (LWLock:WALWrite, IO:WALSync) in front
// of River's fetches and completions, so while the burst lasted almost no
// job got worked, and the backlog it left took many seconds to clear
// (docs/operations.md, "Job creations committed together"). River also
// sends its insert notification once per transaction, so a batch is one
// notifying commit instead of many.
type Inserter struct {
	client  *river.Client[pgx.Tx]
	batcher *groupcommit.Batcher[*insertion]
}

// insertion is one Insert call waiting for its batch.
type insertion struct {
	params river.InsertManyParams
	result *rivertype.JobInsertResult
	err    error
}

const (
	// insertMaxBatch caps one transaction's jobs.
	insertMaxBatch = 500
	// inserters is how many batches commit at once: a second overlaps one
	// batch's round trips and WAL flush with the next.
	inserters = 2
	// insertTimeout bounds one batch's transaction, so a hung database
	// answers its callers (503) instead of holding them.
	insertTimeout = 10 * time.Second
)

// NewInserter returns an Inserter inserting with client.
func NewInserter(client *river.Client[pgx.Tx]) *Inserter {
	i := &Inserter{client: client}
	i.batcher = groupcommit.New(groupcommit.Config[*insertion]{Handle: i.insert, MaxItems: insertMaxBatch, Handlers: inserters})
	return i
}

// Insert inserts a job and returns once it is committed, or the error
// that kept it (and the rest of its batch) from being committed. The
// caller's context is not the transaction's: one transaction serves many
// callers (insertTimeout bounds it).
func (i *Inserter) Insert(_ context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	in := &insertion{params: river.InsertManyParams{Args: args, InsertOpts: opts}}
	i.batcher.Do(in)
	return in.result, in.err
}

// insert inserts one batch in one transaction.
func (i *Inserter) insert(batch []*insertion) {
	ctx, cancel := context.WithTimeout(context.Background(), insertTimeout)
	defer cancel()
	params := make([]river.InsertManyParams, len(batch))
	for k, in := range batch {
		params[k] = in.params
	}
	results, err := i.client.InsertMany(ctx, params)
	for k, in := range batch {
		if err != nil {
			in.err = err
			continue
		}
		in.result = results[k]
	}
}
