package jobs

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/bespin/bespin/db"
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
func StatusOf(state string) string {
	switch db.RiverJobState(state) {
	case db.RiverJobStateRunning:
		return StatusRunning
	case db.RiverJobStateCompleted:
		return StatusCompleted
	case db.RiverJobStateDiscarded, db.RiverJobStateCancelled:
		return StatusFailed
	case db.RiverJobStateAvailable, db.RiverJobStateScheduled, db.RiverJobStatePending, db.RiverJobStateRetryable:
		return StatusPending
	}
	return StatusFailed // deleted
}

// StatesOf is the inverse of StatusOf, for filters: a status names its
// River states; a River state names itself; anything else is nil.
func StatesOf(name string) []string {
	switch name {
	case StatusPending:
		return []string{"available", "scheduled", "pending", "retryable"}
	case StatusFailed:
		return []string{"discarded", "cancelled"}
	}
	if db.RiverJobState(name).Valid() {
		return []string{name}
	}
	return nil
}

// Status is a job as clients see it: the WebSocket job_status message and
// the body of GET /api/jobs/{id}.
type Status struct {
	Type      string          `json:"type"` // always "job_status"
	JobID     string          `json:"job_id"`
	Kind      string          `json:"kind"`
	Status    string          `json:"status"`
	State     string          `json:"state"`
	Attempt   int             `json:"attempt"`
	Result    json.RawMessage `json:"result"`
	Error     *string         `json:"error"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// Terminal reports whether no further status can follow.
func (s Status) Terminal() bool {
	return s.Status == StatusCompleted || s.Status == StatusFailed
}

// NewStatus builds the message from a job's row. output is River's
// recorded output (JSON null when none); lastError the text of the last
// failed attempt ("" when none).
func NewStatus(id int64, kind string, state db.RiverJobState, attempt int16, output []byte, lastError string, updatedAt time.Time) Status {
	s := Status{
		Type:      "job_status",
		JobID:     strconv.FormatInt(id, 10),
		Kind:      kind,
		Status:    StatusOf(string(state)),
		State:     string(state),
		Attempt:   int(attempt),
		Result:    json.RawMessage("null"),
		UpdatedAt: updatedAt.UTC(),
	}
	if len(output) > 0 && s.Status == StatusCompleted {
		s.Result = json.RawMessage(output)
	}
	if s.Status == StatusFailed {
		msg := lastError
		if msg == "" {
			msg = "The job was " + string(state) + "."
		}
		s.Error = &msg
	}
	return s
}

// StatusFromRow is NewStatus for a JobStatusGetMany row.
func StatusFromRow(r db.JobStatusGetManyRow) Status {
	return NewStatus(r.ID, r.Kind, r.State, r.Attempt, r.Output, r.LastError, r.UpdatedAt)
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
