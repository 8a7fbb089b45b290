package jobs

import (
	"cmp"
	"time"

	"github.com/riverqueue/river"
)

// How long an attempt may run, and when a job whose process died is run
// again.
//
// River cancels an attempt's context after its timeout: Config.JobTimeout
// (JOB_TIMEOUT) for process-webhook, whose handlers are short; random-text
// gets its delay on top (a 60 s delay still has JOB_TIMEOUT for the rest);
// the prune job has pruneTimeout.
//
// A job whose process is killed (kill -9, a lost host) stays `running` in
// Postgres. River's rescuer, run every 30 s by the elected leader, retries
// a running job once it has run for both Config.RescueAfter
// (JOB_RESCUE_AFTER, River's RescueStuckJobsAfter, client-wide) and its own
// timeout: after that it cannot still be running anywhere. So each kind is
// rescued soon after its own limit, and RescueAfter is only the margin
// above the shortest one. River's default (1 hour for every kind) left
// receipts unprocessed for an hour after a crash.

// pruneTimeout bounds one retention run. It deletes in small batches, each
// committed, so a run cut short loses nothing; the next one (hourly, and at
// start) continues.
const pruneTimeout = 10 * time.Minute

// Timeout is the job's delay plus JobTimeout (River's default when unset).
func (w *RandomTextWorker) Timeout(job *river.Job[RandomTextArgs]) time.Duration {
	delay := time.Duration(max(job.Args.DelayMS, 0)) * time.Millisecond
	return delay + cmp.Or(w.JobTimeout, river.JobTimeoutDefault)
}

// Timeout is pruneTimeout.
func (w *PruneWebhookReceiptsWorker) Timeout(*river.Job[PruneWebhookReceiptsArgs]) time.Duration {
	return pruneTimeout
}
