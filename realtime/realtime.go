// Package realtime carries job status changes from Postgres to WebSocket
// clients: one LISTEN connection per process (Listener), feeds that turn a
// channel's notifications into messages (JobFeed for bespin_jobs,
// TopicFeed for simple streams), a hub keyed by job id and by topic (Hub),
// the WebSocket side (Server), and the sender of what the process's own
// transactions changed (Announcer).
//
// # Where notifications come from
//
// River sends no notification when a job changes state. Two senders do,
// on bespin_jobs, in one format ({"at": ..., "jobs": [[id, "state"],
// ...]}, ids and states only, under 8000 bytes), so JobFeed reads both
// alike:
//
//   - The workers' announcers (Announcer.AnnounceJob). A Bespin worker
//     completes its own job in its own transaction (jobs.Completion:
//     River's JobCompleteTx, with the output and any writes of its own),
//     which sends no NOTIFY; after commit it hands (id, state) to its
//     process's Announcer, which sends one NOTIFY for whatever
//     accumulated within a few milliseconds, on a connection of its own,
//     outside any data transaction. This is the hot path: a watcher hears
//     of a completion as soon as it is committed, instead of after River's
//     batch completer's next write (up to 250 ms later).
//   - Statement-level AFTER triggers (UPDATE, DELETE) on river_job with
//     transition tables (migration 000010), for every change the hot path
//     does not announce itself: River's fetch (running), retries and
//     discards by River's completer, cancels, retries and deletes from
//     River UI, the API or plain SQL, the rescuer. Each statement sends one
//     NOTIFY per 100 changed jobs; River fetches a batch with one UPDATE, so
//     a batch costs one NOTIFY. The triggers skip the ids a transaction
//     names in bespin.announced_jobs (migration 000013), which is what a
//     self-completing worker sets, so nothing is announced twice and
//     nothing is missed.
//
// Inserts notify nothing, and no data transaction of Bespin's own sends a
// NOTIFY: Postgres serialises the commit of every transaction that issued
// a NOTIFY through one lock held across the WAL flush, so a NOTIFY in each
// job-creating, webhook-storing or job-completing transaction would cap
// those at one commit per WAL flush (see Announcer). A new job is pending,
// its creator knows it, and a watcher's first message is read from the
// row. River's own fetch still notifies (from the trigger), once per
// fetched batch.
//
// The alternatives were worse. A row-level trigger sends one NOTIFY per job,
// and NOTIFY serialises committing transactions on a global queue lock. A
// NOTIFY in each worker's completing transaction was measured: commits
// queued on that lock (docs/operations.md). Leaving completions to River's
// completer keeps its fixed cadence.
//
// The triggers' cost against River's raw throughput is measured by
// BenchmarkJobNotifyTrigger (notify_bench_test.go); docs/operations.md
// keeps the current figures.
//
// # Ordering
//
// A notification only says "look again": the feed re-reads the rows it
// needs, batched, and the row is the truth. Every status a watcher receives
// comes from the feed's reads, which run one at a time (a new watcher's
// first status too: its handler asks the feed, via Refresh, instead of
// reading itself), so each read sees at least what the previous one saw
// and a watcher can never receive an older status after a newer one.
// Repeated identical statuses are skipped. A row past "running" (completed,
// or failed after running) proves its attempt ran, so a watcher last told
// "pending" for an earlier attempt is sent "running" first, whatever order
// the evidence came in: a job that finished before its "running"
// notification was read, a resync, an announcement read before the
// trigger's notification. (Postgres delivers notifications in commit
// order, and an announcer sends a completion only after it committed,
// which is after the fetch that made the job running committed its
// NOTIFY; the feed does not depend on it for watchers.)
//
// # Reconnection and lost announcements
//
// When the LISTEN connection drops, the listener reconnects with capped,
// jittered exponential backoff (100ms to 5s) and then every feed resyncs:
// the job feed re-reads every watched job, batched, so a final status that
// happened while disconnected is still delivered. An announcer whose NOTIFY
// fails makes its own process resync the same way at once (OnFailure) and
// resends on a new connection for every other instance. Every feed also
// resyncs periodically (ListenerConfig.ResyncInterval): the backstop for a
// completion whose announcement never came because its worker process died
// between commit and NOTIFY.
//
// # Adding a channel
//
// Implement Feed (or send with an Announcer and stream with a TopicFeed,
// as the webhooks stream does) and attach it to the Listener before Run.
package realtime
