package jobs

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/riverqueue/river/rivertype"

	"github.com/bespin/bespin/store"
)

// Bespin's statuses. River's finer state is sent beside it, as `state`.
const (
	StatusPending   = "pending"
	StatusRunning   = "running"
	StatusCompleted = "completed"
	StatusFailed    = "failed"
)

// StateDeleted is not a River state: it is what a watcher is told when a
// job it watches is deleted before finishing (from River UI, say).
const StateDeleted = "deleted"

// StatusOf maps a River state to Bespin's status.
func StatusOf(state rivertype.JobState) string {
	switch state {
	case rivertype.JobStateRunning:
		return StatusRunning
	case rivertype.JobStateCompleted:
		return StatusCompleted
	case rivertype.JobStateDiscarded, rivertype.JobStateCancelled:
		return StatusFailed
	case rivertype.JobStateAvailable, rivertype.JobStateScheduled, rivertype.JobStatePending, rivertype.JobStateRetryable:
		return StatusPending
	}
	return StatusFailed // deleted
}

// StatesOf is the inverse of StatusOf, for filters: a status names its
// River states; a River state names itself; anything else is nil.
func StatesOf(name string) []rivertype.JobState {
	var out []rivertype.JobState
	for _, st := range rivertype.JobStates() {
		if name == string(st) || name == StatusOf(st) {
			out = append(out, st)
		}
	}
	return out
}

// Status is a job as clients see it: the WebSocket job_status message and
// the body of GET /api/jobs/{id}.
type Status struct {
	Type    string `json:"type"` // always "job_status"
	JobID   string `json:"job_id"`
	Kind    string `json:"kind"`
	Status  string `json:"status"`
	State   string `json:"state"`
	Attempt int    `json:"attempt"`
	// Result is the job's output once it has completed, else null; null
	// in lists too, which do not read outputs (up to 100 kB per job).
	Result    json.RawMessage `json:"result"`
	Error     *string         `json:"error"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// Terminal reports whether no further status can follow.
func (s Status) Terminal() bool {
	return s.Status == StatusCompleted || s.Status == StatusFailed
}

// NewStatus is the message for a job. The result is the job's recorded
// output once it has completed (null before, and in lists, which read no
// output); the error is the last failed attempt's, for failed jobs.
func NewStatus(j store.Job) Status {
	s := Status{
		Type:      "job_status",
		JobID:     strconv.FormatInt(j.ID, 10),
		Kind:      j.Kind,
		Status:    StatusOf(j.State),
		State:     string(j.State),
		Attempt:   j.Attempt,
		Result:    json.RawMessage("null"),
		UpdatedAt: j.UpdatedAt.UTC(),
	}
	if len(j.Output) > 0 && s.Status == StatusCompleted {
		s.Result = j.Output
	}
	if s.Status == StatusFailed {
		msg := j.LastError
		if msg == "" {
			msg = "The job was " + string(j.State) + "."
		}
		s.Error = &msg
	}
	return s
}

// DeletedStatus is the final message for a watched job that was deleted.
func DeletedStatus(id int64, kind string, at time.Time) Status {
	msg := "The job was deleted."
	return Status{
		Type: "job_status", JobID: strconv.FormatInt(id, 10), Kind: kind,
		Status: StatusFailed, State: StateDeleted, Result: json.RawMessage("null"),
		Error: &msg, UpdatedAt: at.UTC(),
	}
}
