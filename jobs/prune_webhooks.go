package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/bespin/bespin/store"
)

// pruneBatchSize bounds one DELETE, so retention never holds many row locks
// or a long transaction on the receipts table.
const pruneBatchSize = 1000

// PruneWebhookReceiptsArgs deletes receipts older than the retention period.
// It runs periodically (see NewClient) and on start.
type PruneWebhookReceiptsArgs struct{}

func (PruneWebhookReceiptsArgs) Kind() string { return "prune-webhook-receipts" }

// PruneWebhookReceiptsWorker deletes in batches until nothing older than the
// cutoff is left, logging its progress.
type PruneWebhookReceiptsWorker struct {
	river.WorkerDefaults[PruneWebhookReceiptsArgs]
	Logger    *slog.Logger
	Pool      *pgxpool.Pool
	Retention time.Duration // zero keeps everything
}

func (w *PruneWebhookReceiptsWorker) Work(ctx context.Context, job *river.Job[PruneWebhookReceiptsArgs]) error {
	if w.Retention <= 0 {
		return nil
	}
	cutoff := time.Now().Add(-w.Retention)
	var total int64
	for {
		n, err := store.New(w.Pool).DeleteReceiptsOlderThan(ctx, cutoff, pruneBatchSize)
		if err != nil {
			return err
		}
		total += n
		if n > 0 {
			w.Logger.InfoContext(ctx, "pruning webhook receipts",
				slog.Int64("deleted_so_far", total), slog.Time("older_than", cutoff))
		}
		if n < pruneBatchSize {
			break
		}
	}
	if total > 0 {
		w.Logger.InfoContext(ctx, "pruned webhook receipts", slog.Int64("deleted", total), slog.Time("older_than", cutoff))
	}
	return nil
}
