// Command watch is a minimal Bespin WebSocket client: it creates a
// random-text job (or takes the id of one) and prints every status the
// server sends for it, one JSON message a line, until the job completes
// (exit 0) or fails (exit 1).
//
//	go run ./examples/watch                       # a new job, on http://localhost:$PORT (3002)
//	go run ./examples/watch -delay 3s -length 20  # one that runs for 3 s
//	go run ./examples/watch -job 42               # an existing job
//
// It uses only the public API: POST /api/jobs/random-text, then
// GET /api/ws?job_id=<id>, which sends the current status at once, then
// every change, and closes with 1000 after the final one.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "watch:", err)
		os.Exit(1)
	}
}

func run() error {
	port := os.Getenv("PORT")
	if port == "" {
		port = "3002"
	}
	base := flag.String("url", "http://localhost:"+port, "Bespin's base URL")
	jobID := flag.String("job", "", "the job to watch (default: create a random-text job)")
	length := flag.Int("length", 100, "length of the job's random text")
	delay := flag.Duration("delay", 0, "simulated work of the new job (at most 60s)")
	flag.Parse()

	if *jobID == "" {
		id, err := createJob(*base, *length, *delay)
		if err != nil {
			return err
		}
		*jobID = id
	}

	wsURL, err := url.Parse(*base)
	if err != nil {
		return fmt.Errorf("-url: %w", err)
	}
	wsURL.Scheme = strings.Replace(wsURL.Scheme, "http", "ws", 1) // http→ws, https→wss
	wsURL.Path = "/api/ws"
	wsURL.RawQuery = url.Values{"job_id": {*jobID}}.Encode()
	conn, resp, err := websocket.DefaultDialer.Dial(wsURL.String(), nil)
	if err != nil {
		if resp != nil {
			return fmt.Errorf("GET %s: %s", wsURL, resp.Status) // 400 bad id, 404 unknown job
		}
		return fmt.Errorf("GET %s: %w", wsURL, err)
	}
	defer conn.Close()

	for {
		_ = conn.SetReadDeadline(time.Now().Add(2 * time.Minute))
		_, msg, err := conn.ReadMessage()
		if err != nil {
			if websocket.IsCloseError(err, websocket.CloseNormalClosure) {
				return errors.New("closed before a final status")
			}
			return fmt.Errorf("read: %w", err)
		}
		fmt.Println(string(msg))
		var st struct {
			Status string  `json:"status"`
			Error  *string `json:"error"`
		}
		if err := json.Unmarshal(msg, &st); err != nil {
			return fmt.Errorf("not a job_status message: %w", err)
		}
		switch st.Status {
		case "completed":
			return nil
		case "failed":
			if st.Error != nil {
				return fmt.Errorf("job %s failed: %s", *jobID, *st.Error)
			}
			return fmt.Errorf("job %s failed", *jobID)
		}
	}
}

// createJob creates a random-text job and returns its id.
func createJob(base string, length int, delay time.Duration) (string, error) {
	u := fmt.Sprintf("%s/api/jobs/random-text?length=%d&delay_ms=%d", strings.TrimRight(base, "/"), length, delay.Milliseconds())
	resp, err := http.Post(u, "", nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var body struct {
		JobID string `json:"job_id"`
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != http.StatusAccepted {
		return "", fmt.Errorf("POST %s: %s %s", u, resp.Status, body.Error.Message)
	}
	fmt.Fprintf(os.Stderr, "created job %s\n", body.JobID)
	return body.JobID, nil
}
