package store

import (
	"context"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/riverqueue/river/rivertype"

	"github.com/bespin/bespin/db"
)

// Job is a River job as Bespin reports it (see jobs.NewStatus), read from
// the bespin_job_status view.
type Job struct {
	ID          int64
	Kind        string
	State       rivertype.JobState
	Attempt     int
	AttemptedAt *time.Time // when the last attempt started; nil before the first
	// Output is River's recorded output (JSON null when none). Lists leave
	// it out (nil): it may be 100 kB per job.
	Output    json.RawMessage
	LastError string // the last failed attempt's error; "" when none
	UpdatedAt time.Time
}

func jobFromRow(r db.JobStatusGetManyRow) Job {
	return Job{
		ID: r.ID, Kind: r.Kind, State: rivertype.JobState(r.State), Attempt: int(r.Attempt),
		AttemptedAt: r.AttemptedAt, Output: r.Output, LastError: r.LastError, UpdatedAt: r.UpdatedAt,
	}
}

// jobsReadBatch bounds the ids read in one query.
const jobsReadBatch = 1000

// JobsByID reads the jobs with the given ids that exist, in batches of at
// most 1000 ids per query.
func (s *Store) JobsByID(ctx context.Context, ids []int64) (map[int64]Job, error) {
	out := make(map[int64]Job, len(ids))
	for chunk := range slices.Chunk(ids, jobsReadBatch) {
		rows, err := s.q.JobStatusGetMany(ctx, s.conn, chunk)
		if err != nil {
			return nil, Classify(err, "read job statuses")
		}
		for _, r := range rows {
			out[r.ID] = jobFromRow(r)
		}
	}
	return out, nil
}

// Job reads one job; ErrNotFound when there is none.
func (s *Store) Job(ctx context.Context, id int64) (Job, error) {
	jobs, err := s.JobsByID(ctx, []int64{id})
	if err != nil {
		return Job{}, err
	}
	j, ok := jobs[id]
	if !ok {
		return Job{}, notFound("Job " + strconv.FormatInt(id, 10) + " not found.")
	}
	return j, nil
}

// LockJob reads one job and locks its river_job row until the
// transaction ends (call it on New(tx)), so that a change decided on the
// job's state is made on that state. ErrNotFound when there is none.
func (s *Store) LockJob(ctx context.Context, id int64) (Job, error) {
	r, err := s.q.JobStatusGetForUpdate(ctx, s.conn, id)
	if Kind(err) == ErrNotFound {
		return Job{}, notFound("Job " + strconv.FormatInt(id, 10) + " not found.")
	}
	if err != nil {
		return Job{}, Classify(err, "lock job")
	}
	return jobFromRow(db.JobStatusGetManyRow(r)), nil // the same columns
}

// WatchTokenMetadataKey is the key of River's job metadata under which the
// API stores the SHA-256 (hex) of a job's watch token. The query
// JobWatchTokenHash (sql/queries/river_job.sql) reads the same key.
const WatchTokenMetadataKey = "watch_token_sha256"

// JobWatchTokenHash is the SHA-256 (hex) of job id's watch token, "" when
// it was created without one. ErrNotFound when there is no such job.
func (s *Store) JobWatchTokenHash(ctx context.Context, id int64) (string, error) {
	h, err := s.q.JobWatchTokenHash(ctx, s.conn, id)
	if Kind(err) == ErrNotFound {
		return "", notFound("Job " + strconv.FormatInt(id, 10) + " not found.")
	}
	return h, Classify(err, "read job watch token")
}

// MarkJobsAnnounced tells the job status triggers that the current
// transaction announces the changes of ids itself, after commit, so they
// leave those jobs out of their NOTIFY (migration 000013). Run it on the
// transaction (New(tx)); it lasts until the transaction ends.
func (s *Store) MarkJobsAnnounced(ctx context.Context, ids ...int64) error {
	return Classify(s.q.JobsAnnouncedSet(ctx, s.conn, ids), "mark jobs announced")
}

// JobFilter selects a page of jobs, newest first.
type JobFilter struct {
	States []rivertype.JobState // any of these; empty for all
	Kind   string               // "" for all
	Limit  int
	Cursor string // from the previous page's JobPage.Next; "" for the first page
}

// JobPage is one page of jobs. Next is the cursor of the following page,
// "" on the last one.
type JobPage struct {
	Jobs []Job
	Next string
}

const jobCursor = "job"

// ListJobs returns one page of jobs, newest first (River's ids only grow).
// The jobs carry no Output.
func (s *Store) ListJobs(ctx context.Context, f JobFilter) (JobPage, error) {
	p := db.JobStatusListParams{BeforeID: math.MaxInt64, States: []string{}, Kind: f.Kind, MaxRows: int32(f.Limit + 1)}
	for _, st := range f.States {
		p.States = append(p.States, string(st))
	}
	if f.Cursor != "" {
		fields, err := decodeCursor(jobCursor, f.Cursor, 1)
		if err != nil {
			return JobPage{}, err
		}
		if p.BeforeID, err = strconv.ParseInt(fields[0], 10, 64); err != nil || p.BeforeID <= 0 {
			return JobPage{}, errBadCursor
		}
	}
	rows, err := s.q.JobStatusList(ctx, s.conn, p)
	if err != nil {
		return JobPage{}, Classify(err, "list jobs")
	}
	var page JobPage
	if len(rows) > f.Limit {
		rows = rows[:f.Limit]
		page.Next = encodeCursor(jobCursor, strconv.FormatInt(rows[len(rows)-1].ID, 10))
	}
	page.Jobs = make([]Job, len(rows))
	for i, r := range rows {
		page.Jobs[i] = Job{
			ID: r.ID, Kind: r.Kind, State: rivertype.JobState(r.State), Attempt: int(r.Attempt),
			AttemptedAt: r.AttemptedAt, LastError: r.LastError, UpdatedAt: r.UpdatedAt,
		}
	}
	return page, nil
}

// JobCount is the number of jobs of one kind, queue and state.
type JobCount struct {
	Kind, Queue, State string
	Jobs               int64
}

// JobCounts counts jobs by kind, queue and state (reporting.jobs_now).
func (s *Store) JobCounts(ctx context.Context) ([]JobCount, error) {
	rows, err := s.q.JobCountsNow(ctx, s.conn)
	if err != nil {
		return nil, Classify(err, "count jobs")
	}
	out := make([]JobCount, len(rows))
	for i, r := range rows {
		out[i] = JobCount{Kind: r.Kind, Queue: r.Queue, State: r.State, Jobs: r.Jobs}
	}
	return out, nil
}
