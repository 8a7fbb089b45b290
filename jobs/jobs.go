// Package jobs holds Bespin's River job kinds (args + workers) and the River
// client setup. Jobs live in the same Postgres as everything else, so a job
// is inserted in the same transaction as the data it needs (InsertTx) and
// is never lost or run for data that was rolled back.
package jobs

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
)

// Config tunes the River client.
type Config struct {
	Logger *slog.Logger
	// MaxWorkers is the number of jobs worked at once on the default queue.
	// Zero makes an insert-only client (serve with RUN_WORKERS=false).
	MaxWorkers        int
	FetchCooldown     time.Duration
	FetchPollInterval time.Duration
	// PruneInterval is how often the retention job runs; zero disables it.
	PruneInterval time.Duration
	// JobTimeout and RescueAfter: see timeouts.go. Zero uses River's
	// defaults (1 minute, 1 hour).
	JobTimeout  time.Duration
	RescueAfter time.Duration
}

// WorkerDeps is what workers need from the process.
type WorkerDeps struct {
	Logger *slog.Logger
	Pool   *pgxpool.Pool
	// WebhookRetention is how long receipts are kept; zero keeps them all.
	WebhookRetention time.Duration
	// WebhookHandlers are run by process-webhook jobs; nil runs none.
	WebhookHandlers *WebhookHandlers
	// JobTimeout is Config.JobTimeout, which random-text adds its delay to.
	JobTimeout time.Duration
	// Announcer is told of the jobs workers complete themselves (see
	// Completer and Completion); nil leaves their NOTIFY to the status
	// triggers.
	Announcer StatusAnnouncer
}

// NewWorkers registers every job kind Bespin works.
func NewWorkers(deps WorkerDeps) *river.Workers {
	complete := Completion{Pool: deps.Pool, Announcer: deps.Announcer}
	var completer *Completer
	if deps.Pool != nil {
		completer = NewCompleter(deps.Pool, deps.Announcer)
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &RandomTextWorker{JobTimeout: deps.JobTimeout, Completer: completer})
	river.AddWorker(workers, &PruneWebhookReceiptsWorker{Logger: deps.Logger, Pool: deps.Pool, Retention: deps.WebhookRetention})
	river.AddWorker(workers, &ProcessWebhookWorker{Logger: deps.Logger, Completion: complete, Handlers: deps.WebhookHandlers})
	return workers
}

// NewClient builds the River client. It does not start working until
// Start is called.
func NewClient(pool *pgxpool.Pool, workers *river.Workers, cfg Config) (*river.Client[pgx.Tx], error) {
	rc := &river.Config{
		Logger:  cfg.Logger,
		Workers: workers,
	}
	if cfg.MaxWorkers > 0 {
		rc.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.MaxWorkers}}
		rc.FetchCooldown = cfg.FetchCooldown
		rc.FetchPollInterval = cfg.FetchPollInterval
		rc.JobTimeout, rc.RescueStuckJobsAfter = cfg.JobTimeout, cfg.RescueAfter
		if cfg.PruneInterval > 0 {
			// Only the elected leader enqueues periodic jobs, so one prune
			// runs at a time however many instances there are.
			rc.PeriodicJobs = append(rc.PeriodicJobs, river.NewPeriodicJob(
				river.PeriodicInterval(cfg.PruneInterval),
				func() (river.JobArgs, *river.InsertOpts) { return PruneWebhookReceiptsArgs{}, nil },
				&river.PeriodicJobOpts{RunOnStart: true},
			))
		}
	}
	client, err := river.NewClient(riverpgxv5.New(pool), rc)
	if err != nil {
		return nil, fmt.Errorf("river client: %w", err)
	}
	return client, nil
}
