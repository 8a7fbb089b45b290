package httpapi

import (
	"net/http"
	"time"

	"github.com/bespin/bespin/store"
)

// maxStatsRows bounds one stats answer; narrow the range or filter to see more.
const maxStatsRows = 10_000

type webhookStat struct {
	Bucket               time.Time `json:"bucket"`
	Source               string    `json:"source"`
	Event                string    `json:"event"`
	Receipts             int64     `json:"receipts"`
	Verified             int64     `json:"verified"`
	Processed            int64     `json:"processed"`
	AvgProcessingSeconds *float64  `json:"avg_processing_seconds"`
	P95ProcessingSeconds *float64  `json:"p95_processing_seconds"`
}

type webhookStatsResponse struct {
	Bucket string        `json:"bucket"`
	Since  time.Time     `json:"since"`
	Until  time.Time     `json:"until"`
	Stats  []webhookStat `json:"stats"`
}

// webhookStats counts receipts per bucket (hour or day), source and event
// over since..until, newest bucket first. It is reporting.webhook_stats,
// the function behind the analysts' views, so the API and SQL agree.
func (a *api) webhookStats(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	bucket := q.Get("bucket")
	if bucket == "" {
		bucket = "hour"
	}
	var defaultSpan time.Duration
	switch bucket {
	case "hour":
		defaultSpan = 24 * time.Hour
	case "day":
		defaultSpan = 30 * 24 * time.Hour
	default:
		return badRequest("bucket must be hour or day, not %q.", bucket)
	}
	now := time.Now().UTC()
	until, err := timeParam(q.Get("until"), "until", now)
	if err != nil {
		return err
	}
	since, err := timeParam(q.Get("since"), "since", until.Add(-defaultSpan))
	if err != nil {
		return err
	}
	if !since.Before(until) {
		return badRequest("since must be before until.")
	}
	rows, err := a.Store.WebhookStats(r.Context(), store.StatsFilter{
		Bucket: bucket, Since: since, Until: until,
		Source: q.Get("source"), Event: q.Get("event"), MaxRows: maxStatsRows,
	})
	if err != nil {
		return err
	}
	res := webhookStatsResponse{Bucket: bucket, Since: since, Until: until, Stats: make([]webhookStat, len(rows))}
	for i, row := range rows {
		res.Stats[i] = webhookStat{
			Bucket: row.Bucket, Source: row.Source, Event: row.Event,
			Receipts: row.Receipts, Verified: row.Verified, Processed: row.Processed,
			AvgProcessingSeconds: row.AvgProcessingSeconds, P95ProcessingSeconds: row.P95ProcessingSeconds,
		}
	}
	ok(w, res)
	return nil
}
