package httpapi

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/riverqueue/river"

	"github.com/bespin/bespin/db"
	"github.com/bespin/bespin/jobs"
)

type createJobResponse struct {
	JobID  string `json:"job_id"`
	Status string `json:"status"`
	Kind   string `json:"kind"`
}

// createRandomTextJob enqueues a random-text job.
func (a *api) createRandomTextJob(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	length, err := intParam(q.Get("length"), "length", jobs.RandomTextDefaultLength, jobs.RandomTextMinLength, jobs.RandomTextMaxLength)
	if err != nil {
		return err
	}
	delay, err := intParam(q.Get("delay_ms"), "delay_ms", 0, 0, jobs.RandomTextMaxDelayMS)
	if err != nil {
		return err
	}
	args := jobs.RandomTextArgs{Length: length, DelayMS: delay}
	res, err := a.River.Insert(r.Context(), args, nil)
	if err != nil {
		return err
	}
	id := strconv.FormatInt(res.Job.ID, 10)
	accepted(w, "/api/jobs/"+id, createJobResponse{JobID: id, Status: jobs.StatusPending, Kind: args.Kind()})
	return nil
}

// parseJobID parses a job id as clients send it: River ids are positive.
func parseJobID(s, name string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, badRequest("%s must be a job id (a positive whole number); got %q.", name, s)
	}
	return id, nil
}

// jobStatus reads one job's status; *Error 404 when there is none.
func (a *api) jobStatus(r *http.Request, id int64) (jobs.Status, error) {
	rows, err := db.New().JobStatusGetMany(r.Context(), a.Pool, []int64{id})
	if err != nil {
		return jobs.Status{}, err
	}
	if len(rows) == 0 {
		return jobs.Status{}, notFound("Job " + strconv.FormatInt(id, 10))
	}
	return jobs.StatusFromRow(rows[0]), nil
}

// getJob answers with the job as the WebSocket message.
func (a *api) getJob(w http.ResponseWriter, r *http.Request) error {
	id, err := parseJobID(r.PathValue("id"), "The job id")
	if err != nil {
		return err
	}
	st, err := a.jobStatus(r, id)
	if err != nil {
		return err
	}
	ok(w, st)
	return nil
}

type jobListResponse struct {
	Jobs       []jobs.Status `json:"jobs"`
	NextCursor *string       `json:"next_cursor"`
}

// listJobs lists jobs newest first. Filters: state (a River state or a
// Bespin status), kind. Keyset pagination: limit and the opaque cursor of
// the previous page. Items leave out result (see GET /api/jobs/{id}).
func (a *api) listJobs(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit, err := intParam(q.Get("limit"), "limit", defaultListLimit, 1, maxListLimit)
	if err != nil {
		return err
	}
	params := db.JobStatusListParams{BeforeID: math.MaxInt64, States: []string{}, Kind: q.Get("kind"), MaxRows: int32(limit + 1)}
	if s := q.Get("state"); s != "" {
		params.States = jobs.StatesOf(s)
		if params.States == nil {
			return badRequest("state must be a status (pending, running, completed, failed) or a River state (%s); got %q.",
				strings.Join(riverStates(), ", "), s)
		}
	}
	if c := q.Get("cursor"); c != "" {
		params.BeforeID, err = decodeJobCursor(c)
		if err != nil {
			return err
		}
	}
	rows, err := db.New().JobStatusList(r.Context(), a.Pool, params)
	if err != nil {
		return err
	}
	res := jobListResponse{Jobs: make([]jobs.Status, 0, len(rows))}
	if len(rows) > limit {
		rows = rows[:limit]
		next := encodeJobCursor(rows[len(rows)-1].ID)
		res.NextCursor = &next
	}
	for _, row := range rows {
		res.Jobs = append(res.Jobs, jobs.NewStatus(row.ID, row.Kind, row.State, row.Attempt, nil, row.LastError, row.UpdatedAt))
	}
	ok(w, res)
	return nil
}

func riverStates() []string {
	var out []string
	for _, s := range db.AllRiverJobStateValues() {
		out = append(out, string(s))
	}
	return out
}

// The cursor is opaque to clients; today it is the last id they saw.
func encodeJobCursor(id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("job:" + strconv.FormatInt(id, 10)))
}

func decodeJobCursor(c string) (int64, error) {
	errBad := badRequest("cursor is not one this API returned; start again without it.")
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, errBad
	}
	s, found := strings.CutPrefix(string(b), "job:")
	if !found {
		return 0, errBad
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, errBad
	}
	return id, nil
}

// jobsTest is the seed's job-service test endpoint: it says whether the
// job system (River's tables in Postgres) answers.
func (a *api) jobsTest(w http.ResponseWriter, r *http.Request) error {
	err := a.ping(r.Context(), func(ctx context.Context) error {
		_, err := a.River.QueueList(ctx, river.NewQueueListParams().First(1))
		return err
	})
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return err
		}
		a.Logger.WarnContext(r.Context(), "job system check failed", slog.String("error", err.Error()))
		w.Header().Set("Retry-After", "5")
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"message": "Job system is unavailable", "status": "unavailable"})
		return nil
	}
	ok(w, map[string]string{"message": "Job system is working", "status": "ok"})
	return nil
}
