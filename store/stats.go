package store

import (
	"context"
	"time"

	"github.com/bespin/bespin/db"
)

// WebhookStat counts the receipts of one bucket, source and event.
type WebhookStat struct {
	Bucket               time.Time
	Source, Event        string
	Receipts             int64
	Verified, Processed  int64
	AvgProcessingSeconds *float64 // nil when none was processed
	P95ProcessingSeconds *float64
}

// StatsFilter selects webhook statistics.
type StatsFilter struct {
	Bucket        string    // "hour" or "day"
	Since, Until  time.Time // created_at >= Since and < Until
	Source, Event string    // "" for all
	MaxRows       int
}

// WebhookStats counts receipts per bucket, source and event, newest bucket
// first, with reporting.webhook_stats: the function behind the analysts'
// views, so the API and SQL agree.
func (s *Store) WebhookStats(ctx context.Context, f StatsFilter) ([]WebhookStat, error) {
	rows, err := s.q.WebhookStats(ctx, s.conn, db.WebhookStatsParams{
		BucketWidth: f.Bucket, Since: f.Since, Until: f.Until,
		Source: optional(f.Source), Event: optional(f.Event), MaxRows: int32(f.MaxRows),
	})
	if err != nil {
		return nil, Classify(err, "webhook stats")
	}
	out := make([]WebhookStat, len(rows))
	for i, r := range rows {
		out[i] = WebhookStat{
			Bucket: r.Bucket.UTC(), Source: r.Source, Event: r.Event,
			Receipts: r.Receipts, Verified: r.Verified, Processed: r.Processed,
			AvgProcessingSeconds: optionalFloat(r.AvgProcessingSeconds),
			P95ProcessingSeconds: optionalFloat(r.P95ProcessingSeconds),
		}
	}
	return out, nil
}

// optionalFloat reads a nullable float column sqlc could not type.
func optionalFloat(v any) *float64 {
	f, ok := v.(float64)
	if !ok {
		return nil
	}
	return &f
}
