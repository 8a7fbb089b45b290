package httpapi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/bespin/bespin/jobs"
	"github.com/bespin/bespin/store"
)

type createJobResponse struct {
	JobID  string `json:"job_id"`
	Status string `json:"status"`
	Kind   string `json:"kind"`
	// WatchToken lets whoever created the job read it (GET
	// /api/jobs/{id}?watch_token=, /api/ws?job_id=&watch_token=) where job
	// reads need credentials (production).
	WatchToken string `json:"watch_token"`
}

// Job privacy. Job ids count up, so in production reading a job needs a
// token, a session, or the job's own watch token: a random capability
// returned only to its creator. The job keeps only the token's SHA-256, in
// River's metadata (store.WatchTokenMetadataKey): no secret is shared
// between instances and rotating API_TOKEN leaves watch tokens valid.

// newWatchToken returns a watch token and the job metadata that holds its
// hash.
func newWatchToken() (token string, metadata []byte) {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	token = base64.RawURLEncoding.EncodeToString(b)
	metadata, _ = json.Marshal(map[string]string{store.WatchTokenMetadataKey: watchTokenHash(token)})
	return token, metadata
}

func watchTokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// mayReadJob answers whether r may read job id: always unless PrivateJobs;
// then with a token or a session, or with the job's watch_token.
func (a *api) mayReadJob(r *http.Request, id int64) error {
	if !a.PrivateJobs {
		return nil
	}
	_, err := a.authenticate(r)
	if !unauthorized(err) {
		return err // nil: authenticated
	}
	token := r.URL.Query().Get("watch_token")
	if token == "" {
		return errUnauthorized("Reading a job needs its watch_token (returned when it was created), an API token or a session.")
	}
	// An unknown job answers as a wrong token does: whether a job exists
	// is not told to callers without credentials.
	want, err := a.Store.JobWatchTokenHash(r.Context(), id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if want == "" || subtle.ConstantTimeCompare([]byte(watchTokenHash(token)), []byte(want)) != 1 {
		return errUnauthorized("The watch_token is not this job's.")
	}
	return nil
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
	watchToken, metadata := newWatchToken()
	res, err := a.River.Insert(r.Context(), args, &river.InsertOpts{Metadata: metadata})
	if err != nil {
		return store.Classify(err, "insert job")
	}
	id := strconv.FormatInt(res.Job.ID, 10)
	accepted(w, "/api/jobs/"+id, createJobResponse{JobID: id, Status: jobs.StatusPending, Kind: args.Kind(), WatchToken: watchToken})
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

// getJob answers with the job as the WebSocket message.
func (a *api) getJob(w http.ResponseWriter, r *http.Request) error {
	id, err := parseJobID(r.PathValue("id"), "The job id")
	if err != nil {
		return err
	}
	if err := a.mayReadJob(r, id); err != nil {
		return err
	}
	job, err := a.Store.Job(r.Context(), id)
	if err != nil {
		return err
	}
	ok(w, jobs.NewStatus(job))
	return nil
}

type jobListResponse struct {
	Jobs       []jobs.Status `json:"jobs"`
	NextCursor *string       `json:"next_cursor"`
}

// listJobs lists jobs newest first. Filters: state (a River state or a
// Bespin status), kind. Keyset pagination: limit and the opaque cursor of
// the previous page. Items have result null (see GET /api/jobs/{id}).
func (a *api) listJobs(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := store.JobFilter{Kind: q.Get("kind"), Cursor: q.Get("cursor")}
	var err error
	if f.Limit, err = intParam(q.Get("limit"), "limit", defaultListLimit, 1, maxListLimit); err != nil {
		return err
	}
	if s := q.Get("state"); s != "" {
		if f.States = jobs.StatesOf(s); f.States == nil {
			return badRequest("state must be a status (pending, running, completed, failed) or a River state (%s); got %q.",
				strings.Join(riverStates(), ", "), s)
		}
	}
	page, err := a.Store.ListJobs(r.Context(), f)
	if err != nil {
		return err
	}
	res := jobListResponse{Jobs: make([]jobs.Status, len(page.Jobs)), NextCursor: optionalParam(page.Next)}
	for i, j := range page.Jobs {
		res.Jobs[i] = jobs.NewStatus(j) // result null: lists read no output
	}
	ok(w, res)
	return nil
}

func riverStates() []string {
	var out []string
	for _, s := range rivertype.JobStates() {
		out = append(out, string(s))
	}
	return out
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
		w.Header().Set("Retry-After", retryAfterUnavailable)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"message": "Job system is unavailable", "status": "unavailable"})
		return nil
	}
	ok(w, map[string]string{"message": "Job system is working", "status": "ok"})
	return nil
}
