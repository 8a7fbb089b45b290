package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// The baselines' job: the same work as Bespin's random-text job, written
// against bare River with no Bespin code.
type bareTextArgs struct {
	Length int `json:"length"`
}

func (bareTextArgs) Kind() string { return "random-text" }

type bareTextWorker struct {
	river.WorkerDefaults[bareTextArgs]
}

func (w *bareTextWorker) Work(ctx context.Context, job *river.Job[bareTextArgs]) error {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	buf := make([]byte, job.Args.Length)
	_, _ = rand.Read(buf)
	for i, b := range buf {
		buf[i] = alphabet[int(b)%len(alphabet)]
	}
	return river.RecordOutput(ctx, map[string]any{"text": string(buf), "length": job.Args.Length})
}

// bareRiver is a database with only River's schema, and a River client
// working bareTextArgs with the same queue settings as Bespin's side.
func bareRiver(ctx context.Context, o options, purpose string, maxWorkers int) (*benchDB, *river.Client[pgx.Tx], error) {
	d, err := createDB(ctx, o, purpose)
	if err != nil {
		return nil, nil, err
	}
	migrator, err := rivermigrate.New(riverpgxv5.New(d.pool), nil)
	if err != nil {
		d.drop(o.keep)
		return nil, nil, err
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		d.drop(o.keep)
		return nil, nil, err
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &bareTextWorker{})
	client, err := river.NewClient(riverpgxv5.New(d.pool), &river.Config{
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: maxWorkers}},
		Workers:           workers,
		FetchCooldown:     o.cooldown,
		FetchPollInterval: time.Second, // Bespin's JOB_FETCH_POLL_INTERVAL default
		Logger:            quietLogger(),
	})
	if err != nil {
		d.drop(o.keep)
		return nil, nil, err
	}
	return d, client, nil
}

// jobStatus is the WebSocket message of SPEC.md.
type jobStatus struct {
	Type   string `json:"type"`
	JobID  string `json:"job_id"`
	Status string `json:"status"`
	State  string `json:"state"`
}

// watch opens a WebSocket on a job and returns the connection after the
// first (current status) message.
func watch(ctx context.Context, serverURL, jobID string) (*websocket.Conn, jobStatus, error) {
	u, _ := url.Parse(serverURL)
	u.Scheme = "ws"
	u.Path = "/api/ws"
	u.RawQuery = url.Values{"job_id": {jobID}}.Encode()
	dialer := websocket.Dialer{HandshakeTimeout: 30 * time.Second}
	conn, resp, err := dialer.DialContext(ctx, u.String(), http.Header{})
	if err != nil {
		if resp != nil {
			return nil, jobStatus{}, fmt.Errorf("watch job %s: %s: %w", jobID, resp.Status, err)
		}
		return nil, jobStatus{}, fmt.Errorf("watch job %s: %w", jobID, err)
	}
	st, err := readStatus(conn)
	if err != nil {
		conn.Close()
		return nil, jobStatus{}, err
	}
	return conn, st, nil
}

func readStatus(conn *websocket.Conn) (jobStatus, error) {
	_, data, err := conn.ReadMessage()
	if err != nil {
		return jobStatus{}, err
	}
	var st jobStatus
	if err := json.Unmarshal(data, &st); err != nil {
		return jobStatus{}, fmt.Errorf("bad message %q: %w", data, err)
	}
	return st, nil
}

func terminal(status string) bool { return status == "completed" || status == "failed" }

// createJob posts a random-text job and returns its id.
func createJob(ctx context.Context, client *http.Client, serverURL string, length int) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprintf("%s/api/jobs/random-text?length=%d", serverURL, length), nil)
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var body struct {
		JobID string `json:"job_id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusAccepted {
		return "", fmt.Errorf("create job: %s %v", resp.Status, err)
	}
	return strings.TrimSpace(body.JobID), nil
}
