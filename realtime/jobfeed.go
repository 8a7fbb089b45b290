package realtime

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/riverqueue/river/rivertype"

	"github.com/bespin/bespin/jobs"
	"github.com/bespin/bespin/metrics"
	"github.com/bespin/bespin/store"
)

// JobChannel is the channel migration 000010's triggers NOTIFY on.
const JobChannel = "bespin_jobs"

// JobFeed turns bespin_jobs notifications into job_status messages: it
// reads the rows it needs (batched) and publishes them to the hub. A
// notification names ids and states only; the row is the truth, so a
// status read after several changes is simply the newest. Notifications
// come from two senders in one format: the status triggers (migration
// 000010) and the workers' announcers (Announcer.AnnounceJob).
type JobFeed struct {
	store   *store.Store
	hub     *Hub
	logger  *slog.Logger
	metrics *metrics.Metrics
	wake    func()

	mu      sync.Mutex
	refresh map[int64]struct{} // new watchers waiting for their first status
}

// NewJobFeed returns the feed; add it to the listener with AttachTo.
func NewJobFeed(st *store.Store, hub *Hub, logger *slog.Logger, m *metrics.Metrics) *JobFeed {
	hub.AddTopic(TopicJobs)
	return &JobFeed{store: st, hub: hub, logger: logger, metrics: m, wake: func() {}, refresh: map[int64]struct{}{}}
}

// AttachTo adds the feed to l.
func (f *JobFeed) AttachTo(l *Listener) { f.wake = l.Add(f) }

func (f *JobFeed) Channel() string { return JobChannel }

// Refresh asks for id's current status to be read and published. A new
// watcher's first status goes through here rather than being read by its
// own handler, so that every status a watcher gets comes from the feed's
// serial reads and none can overtake another.
func (f *JobFeed) Refresh(id int64) {
	f.mu.Lock()
	f.refresh[id] = struct{}{}
	f.mu.Unlock()
	f.wake()
}

func (f *JobFeed) Process(ctx context.Context, payloads []string, resync bool) error {
	f.mu.Lock()
	refresh := f.refresh
	f.refresh = map[int64]struct{}{}
	f.mu.Unlock()

	// Notified ids that someone wants (a watcher, or the jobs stream's
	// subscribers: all of them) in order of first appearance, with their
	// last state and whether any of their notifications said running (see
	// below).
	type notified struct {
		last       string
		sawRunning bool
	}
	var order []int64
	seen := map[int64]notified{}
	stream := f.hub.HasSubscribers(TopicJobs)
	now := time.Now()
	for _, p := range payloads {
		n, err := parseNotification(p)
		if err != nil {
			f.logger.Warn("ignoring malformed job notification", slog.String("payload", p), slog.String("error", err.Error()))
			continue
		}
		if lag := now.Sub(time.UnixMicro(int64(n.At * 1e6))); lag >= 0 {
			f.metrics.NotificationLag.Observe(lag.Seconds())
		}
		for _, c := range n.Jobs {
			if !stream && !f.hub.watched(c.ID) {
				continue
			}
			s, ok := seen[c.ID]
			if !ok {
				order = append(order, c.ID)
			}
			s.last = c.State
			s.sawRunning = s.sawRunning || c.State == string(rivertype.JobStateRunning)
			seen[c.ID] = s
		}
	}

	want := make(map[int64]bool, len(order))
	for _, id := range order {
		want[id] = true
	}
	if resync {
		for _, id := range f.hub.WatchedJobs() {
			want[id] = true
		}
	}
	for id := range refresh {
		want[id] = true
	}
	if len(want) == 0 {
		return nil
	}

	rows, err := f.store.JobsByID(ctx, slices.Sorted(maps.Keys(want)))
	if err != nil {
		// Put the new watchers back; the listener retries with a resync,
		// which covers everything else.
		f.mu.Lock()
		for id := range refresh {
			f.refresh[id] = struct{}{}
		}
		f.mu.Unlock()
		return err
	}

	// Notified jobs first, in notification order, then the rest.
	publish := func(id int64, fromNotification bool) error {
		row, ok := rows[id]
		if !ok {
			// Gone: deleted (or never committed).
			if f.hub.watched(id) || (fromNotification && seen[id].last == jobs.StateDeleted) {
				return f.hub.publishJob(jobs.DeletedStatus(id, f.hub.kind(id), now), fromNotification)
			}
			return nil
		}
		st := jobs.NewStatus(row)
		if err := f.publishRunningFirst(row, fromNotification && seen[id].sawRunning); err != nil {
			return err
		}
		if !fromNotification {
			return f.hub.publishJob(st, false)
		}
		// When the row has moved on since the last notification read here,
		// the change that moved it has its own notification on the way,
		// which will publish it, in order; publishing it now could put it
		// before statuses still to come from earlier notifications.
		if seen[id].last == st.State {
			return f.hub.publishJob(st, true)
		}
		return nil
	}
	for _, id := range order {
		if want[id] {
			if err := publish(id, true); err != nil {
				return err
			}
			delete(want, id)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(want)) {
		if err := publish(id, false); err != nil {
			return err
		}
	}
	return nil
}

// publishRunningFirst tells watchers that the job ran when its row is past
// "running" in an attempt they have not seen running: a job reaches
// completed (or retryable, discarded, cancelled with attempt > 0) only
// from running, in the attempt River counted when it fetched it. That
// holds whatever order the evidence arrives in (a resync, a new watcher's
// read, an announcement read before the trigger's "running"), so a
// watcher never sees "completed" without "running" first.
//
// The jobs stream keeps no per-job memory, so it is told "running" only
// on evidence: a "running" notification in this batch (sawRunning) for a
// job no watcher was told more of. Notifications arrive in commit order
// and an announcer sends a completion only after it committed, which is
// after the fetch that made the job running committed with its trigger's
// NOTIFY; so "running" never reaches the stream after the job's final
// status.
func (f *JobFeed) publishRunningFirst(row store.Job, sawRunning bool) error {
	if row.State == rivertype.JobStateRunning || row.AttemptedAt == nil || row.Attempt == 0 {
		return nil
	}
	last := f.hub.lastPublished(row.ID)
	missed := last != nil && last.Status == jobs.StatusPending && last.Attempt < row.Attempt
	if !missed && !(last == nil && sawRunning) {
		return nil
	}
	running := jobs.NewStatus(store.Job{
		ID: row.ID, Kind: row.Kind, State: rivertype.JobStateRunning, Attempt: row.Attempt, UpdatedAt: *row.AttemptedAt,
	})
	return f.hub.publishJob(running, sawRunning)
}
