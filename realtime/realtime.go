// Package realtime carries job status changes from Postgres to WebSocket
// clients: one LISTEN connection per process (Listener), feeds that turn a
// channel's notifications into messages (JobFeed for bespin_jobs,
// TopicFeed for simple streams), a hub keyed by job id and by topic (Hub),
// and the WebSocket side (Server).
//
// # Where notifications come from
//
// River sends no notification when a job changes state. Migration 000010
// adds two statement-level AFTER triggers (UPDATE, DELETE) on river_job
// with transition tables. Inserts notify nothing: Postgres serialises the
// commit of every transaction that issued a NOTIFY through one lock held
// across the WAL flush, so a NOTIFY in each job-creating or
// webhook-storing transaction would cap those at one commit per WAL flush
// (see Announcer); a new job is pending, its creator knows it, and a
// watcher's first message is read from the row. Each statement sends one
// NOTIFY per 100 changed jobs, with ids and states only ({"at": ...,
// "jobs": [[id, "state"], ...]}, under 4 kB). River fetches jobs with one UPDATE per
// batch and completes them with one UPDATE per batch, so a batch costs one
// NOTIFY, not one per job. Every path that changes a job goes through
// river_job, so every path is seen: worked, failed and retried, discarded,
// cancelled (JobCancel, River UI), deleted before finishing (reported as
// status failed, state "deleted").
//
// The alternatives were worse. A row-level trigger sends one NOTIFY per job,
// and NOTIFY serialises committing transactions on a global queue lock. A
// River hook or middleware runs only in processes with workers, misses
// changes made elsewhere (River UI, JobCancel from another instance, the
// rescuer), and would need a NOTIFY of its own per job anyway.
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
// Repeated identical statuses are skipped. When a job finishes before its
// "running" notification is read, the notification still proves it ran,
// so watchers are sent "running" before the final status.
//
// # Reconnection
//
// When the LISTEN connection drops, the listener reconnects with capped,
// jittered exponential backoff (100ms to 5s) and then every feed resyncs:
// the job feed re-reads every watched job, batched, so a final status that
// happened while disconnected is still delivered.
//
// # Adding a channel
//
// Implement Feed (or send with an Announcer and stream with a TopicFeed,
// as the webhooks stream does) and attach it to the Listener before Run.
package realtime
