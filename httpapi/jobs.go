package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
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

// creatableKinds are the job kinds clients create, each with POST
// /api/jobs/<kind>.
var creatableKinds = []string{jobs.RandomTextArgs{}.Kind()}

// createRandomTextJob enqueues a random-text job. Its parameters come in
// the query string or in a JSON object body.
func (a *api) createRandomTextJob(w http.ResponseWriter, r *http.Request) error {
	params, err := jobParams(w, r, "length", "delay_ms")
	if err != nil {
		return err
	}
	length, err := intParam(params["length"], "length", jobs.RandomTextDefaultLength, jobs.RandomTextMinLength, jobs.RandomTextMaxLength)
	if err != nil {
		return err
	}
	delay, err := intParam(params["delay_ms"], "delay_ms", 0, 0, jobs.RandomTextMaxDelayMS)
	if err != nil {
		return err
	}
	args := jobs.RandomTextArgs{Length: length, DelayMS: delay}
	watchToken, metadata := newWatchToken()
	res, err := a.jobInserter.Insert(r.Context(), args, &river.InsertOpts{Metadata: metadata})
	if err != nil {
		return store.Classify(err, "insert job")
	}
	id := strconv.FormatInt(res.Job.ID, 10)
	accepted(w, "/api/jobs/"+id, createJobResponse{JobID: id, Status: jobs.StatusPending, Kind: args.Kind(), WatchToken: watchToken})
	return nil
}

// maxJobBody caps a job creation body: a few parameters.
const maxJobBody = 4 << 10

// jobParams reads a job's parameters, each given once, in the query string
// (?length=50) or in a JSON object body ({"length": 50}), as the text
// intParam parses. Nothing is ignored: an unknown parameter, one given
// twice, a body that is not JSON or not labelled as JSON are refused.
func jobParams(w http.ResponseWriter, r *http.Request, allowed ...string) (map[string]string, error) {
	unknown := func(name, where string) error {
		return badRequest("%s has no parameter %q; it takes %s.", r.URL.Path, name, strings.Join(allowed, " and ")+" "+where)
	}
	params := map[string]string{}
	for name, vs := range r.URL.Query() {
		if !slices.Contains(allowed, name) {
			return nil, unknown(name, "(in the query string or a JSON body)")
		}
		if len(vs) > 1 {
			return nil, invalidParam(name, "is given %d times; give it once", len(vs))
		}
		params[name] = vs[0]
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxJobBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errorf(http.StatusRequestEntityTooLarge, "payload_too_large", "A job's parameters fit in %d bytes.", maxJobBody)
		}
		return nil, errorf(http.StatusBadRequest, "unreadable_body", "The request body could not be read.")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return params, nil
	}
	ct := r.Header.Get("Content-Type")
	if mt, _, _ := mime.ParseMediaType(ct); mt != "application/json" {
		got := "has no Content-Type"
		if ct != "" {
			got = fmt.Sprintf("is %s", ct)
		}
		return nil, errorf(http.StatusUnsupportedMediaType, "unsupported_media_type",
			"The body %s: send the parameters as a JSON object with Content-Type: application/json, or in the query string (?length=50).", got)
	}
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&fields); err != nil || dec.More() || fields == nil {
		return nil, errorf(http.StatusBadRequest, "invalid_json", `The body must be one JSON object, like {"length": 50}.`)
	}
	for name, raw := range fields {
		if !slices.Contains(allowed, name) {
			return nil, unknown(name, "(in a JSON body or the query string)")
		}
		if _, dup := params[name]; dup {
			return nil, invalidParam(name, "is given both in the query string and in the body; give it once")
		}
		params[name] = string(raw) // a JSON number is its own text; anything else fails to parse
	}
	return params, nil
}

// unknownJobKind answers POST /api/jobs/{kind} for a kind clients cannot
// create.
func (a *api) unknownJobKind(w http.ResponseWriter, r *http.Request) error {
	return errorf(http.StatusNotFound, "unknown_job_kind", "There is no job kind %q; the kinds you can create are %s (POST /api/jobs/<kind>).",
		r.PathValue("kind"), strings.Join(creatableKinds, ", "))
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
	if kind := r.PathValue("id"); slices.Contains(creatableKinds, kind) {
		e := errorf(http.StatusMethodNotAllowed, "method_not_allowed",
			"%s is a job kind: POST /api/jobs/%s creates a job; GET /api/jobs/{id} reads a job by its numeric id.", kind, kind)
		e.Header = http.Header{"Allow": {http.MethodPost}}
		return e
	}
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
