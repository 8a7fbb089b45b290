package httpapi

import (
	"context"
	"fmt"
	"net/http"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river/rivertype"

	"github.com/bespin/bespin/jobs"
	"github.com/bespin/bespin/store"
)

// Job control: cancel, retry and delete, for operators and the console
// (River UI offers the same through its own API). Each runs in one
// transaction that first locks the job's row, so what it decides from the
// job's state (finished? running?) still holds when River changes the job,
// and the answer is the job as committed. Watchers and ?topic=jobs
// streams see the change through the status triggers like any other.

type jobControlResponse struct {
	Job     jobs.Status `json:"job"`
	Changed bool        `json:"changed"`
	Message string      `json:"message"`
}

// jobChange makes a change to a locked job inside tx and says whether it
// changed anything, and what, for people.
type jobChange func(ctx context.Context, tx pgx.Tx, job store.Job) (changed bool, message string, err error)

// controlJob runs change on the job named by the path and answers 200 with
// the job after it.
func (a *api) controlJob(w http.ResponseWriter, r *http.Request, change jobChange) error {
	id, err := parseJobID(r.PathValue("id"), "The job id")
	if err != nil {
		return err
	}
	var res jobControlResponse
	err = a.inTx(r.Context(), "change job", func(ctx context.Context, tx pgx.Tx) error {
		st := store.New(tx)
		job, err := st.LockJob(ctx, id)
		if err != nil {
			return err
		}
		if res.Changed, res.Message, err = change(ctx, tx, job); err != nil {
			return err
		}
		after, err := st.Job(ctx, id)
		res.Job = jobs.NewStatus(after)
		return err
	})
	if err != nil {
		return err
	}
	ok(w, res)
	return nil
}

// inTx runs fn in a transaction on the pool and commits when it returns
// nil; database errors are classified as doing.
func (a *api) inTx(ctx context.Context, doing string, fn func(ctx context.Context, tx pgx.Tx) error) error {
	return store.Classify(pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error { return fn(ctx, tx) }), doing)
}

func finished(job store.Job) bool {
	s := jobs.StatusOf(job.State)
	return s == jobs.StatusCompleted || s == jobs.StatusFailed
}

func errJobRunning(id int64) *Error {
	return errorf(http.StatusConflict, "job_running", "Job %d is running; cancel it first, or wait for it to finish.", id)
}

// cancelJob is POST /api/jobs/{id}/cancel. A job waiting to run is
// cancelled at once; a running one is asked to stop (its worker's context
// is cancelled) and ends as cancelled when it does; a finished one is left
// as it is.
func (a *api) cancelJob(w http.ResponseWriter, r *http.Request) error {
	return a.controlJob(w, r, func(ctx context.Context, tx pgx.Tx, job store.Job) (bool, string, error) {
		if finished(job) {
			return false, fmt.Sprintf("Job %d has already finished (%s); there is nothing to cancel.", job.ID, job.State), nil
		}
		if _, err := a.River.JobCancelTx(ctx, tx, job.ID); err != nil {
			return false, "", err
		}
		if job.State == rivertype.JobStateRunning {
			return true, fmt.Sprintf("Job %d is running: it has been asked to stop, and ends as cancelled when it does.", job.ID), nil
		}
		return true, fmt.Sprintf("Job %d was cancelled.", job.ID), nil
	})
}

// retryJob is POST /api/jobs/{id}/retry: a finished, retryable or
// scheduled job runs (again) now, with one more attempt if it had used
// them all. River's retry also drops an earlier cancellation request, so
// the new run is not cancelled in its turn. A running job: 409.
func (a *api) retryJob(w http.ResponseWriter, r *http.Request) error {
	return a.controlJob(w, r, func(ctx context.Context, tx pgx.Tx, job store.Job) (bool, string, error) {
		if job.State == rivertype.JobStateRunning {
			return false, "", errJobRunning(job.ID)
		}
		after, err := a.River.JobRetryTx(ctx, tx, job.ID)
		if err != nil {
			return false, "", err
		}
		if after.State == job.State {
			return false, fmt.Sprintf("Job %d is already waiting to run.", job.ID), nil
		}
		return true, fmt.Sprintf("Job %d will run again.", job.ID), nil
	})
}

// deleteJob is DELETE /api/jobs/{id}: 204, or 409 for a running job.
// Watchers of a job deleted before finishing get failed, state deleted.
func (a *api) deleteJob(w http.ResponseWriter, r *http.Request) error {
	id, err := parseJobID(r.PathValue("id"), "The job id")
	if err != nil {
		return err
	}
	err = a.inTx(r.Context(), "delete job", func(ctx context.Context, tx pgx.Tx) error {
		job, err := store.New(tx).LockJob(ctx, id)
		if err != nil {
			return err
		}
		if job.State == rivertype.JobStateRunning {
			return errJobRunning(id)
		}
		_, err = a.River.JobDeleteTx(ctx, tx, id)
		return err
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
