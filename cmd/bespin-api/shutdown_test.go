package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/bespin/bespin/internal/dbtest"
	"github.com/bespin/bespin/internal/redistest"
)

// SIGTERM to a real bespin-api process while a webhook upload and jobs
// are in flight: the upload still gets its 201, the short job finishes,
// the long one is cancelled and left for River to retry, WebSocket
// watchers get close 1001, and the process exits 0 within
// SHUTDOWN_TIMEOUT.
func TestGracefulShutdownOnSIGTERM(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bin := buildBinary(t)
	dbURL := dbtest.URL(t)
	_, prefix := redistest.New(t)
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)

	const shutdownTimeout = 4 * time.Second
	proc := startProcess(t, bin, []string{
		"DATABASE_URL=" + dbURL, "REDIS_ADDR=" + redistest.Addr(), "REDIS_KEY_PREFIX=" + prefix,
		fmt.Sprintf("PORT=%d", port), "LOG_FORMAT=json", "SHUTDOWN_TIMEOUT=" + shutdownTimeout.String(),
	}, base+"/readyz", "serve")
	cmd, logs, exited := proc.cmd, proc.logs, proc.exited

	short := createJob(t, base, "length=50&delay_ms=1500")
	long := createJob(t, base, "length=50&delay_ms=60000")
	shortWatch, longWatch := watch(t, base, short.JobID), watch(t, base, long.JobID)
	for _, c := range []*websocket.Conn{shortWatch, longWatch} {
		for nextStatus(t, c).Status != "running" {
		}
	}

	// A webhook whose body is still arriving when SIGTERM lands.
	body := `{"event":"ping","during":"shutdown"}`
	mac := hmac.New(sha256.New, []byte("test-secret"))
	mac.Write([]byte(body))
	pr, pw := io.Pipe()
	req, err := http.NewRequest(http.MethodPost, base+"/api/webhooks/test", pr)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Webhook-Signature", hex.EncodeToString(mac.Sum(nil)))
	req.Header.Set("X-Webhook-Id", "in-flight-1")
	respc := make(chan *http.Response, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("in-flight webhook: %v", err)
			close(respc)
			return
		}
		respc <- resp
	}()
	_, err = pw.Write([]byte(body[:10]))
	require.NoError(t, err)
	time.Sleep(200 * time.Millisecond) // the handler is now reading the body

	sigterm := time.Now()
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	time.Sleep(300 * time.Millisecond)
	_, err = pw.Write([]byte(body[10:]))
	require.NoError(t, err)
	require.NoError(t, pw.Close())

	resp, ok := <-respc
	require.True(t, ok)
	var receipt map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&receipt))
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode, "the in-flight delivery completes: %v", receipt)

	require.NoError(t, longWatch.SetReadDeadline(time.Now().Add(10*time.Second)))
	for {
		_, _, err := longWatch.ReadMessage()
		if err != nil {
			require.True(t, websocket.IsCloseError(err, websocket.CloseGoingAway), "want close 1001, got %v", err)
			break
		}
	}

	select {
	case err := <-exited:
		require.NoError(t, err, "exit status; logs:\n%s", logs.String())
	case <-time.After(shutdownTimeout + 5*time.Second):
		t.Fatalf("still running %s after SIGTERM; logs:\n%s", time.Since(sigterm), logs.String())
	}
	require.Less(t, time.Since(sigterm), shutdownTimeout+time.Second, "exits within SHUTDOWN_TIMEOUT")

	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var n int
	require.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM webhook_receipts WHERE delivery_id = 'in-flight-1'").Scan(&n))
	require.Equal(t, 1, n, "the 201 was committed")
	var state string
	require.NoError(t, conn.QueryRow(ctx, "SELECT state FROM river_job WHERE id = $1", short.JobID).Scan(&state))
	require.Equal(t, "completed", state, "the short job finished during shutdown")
	require.NoError(t, conn.QueryRow(ctx, "SELECT state FROM river_job WHERE id = $1", long.JobID).Scan(&state))
	require.Contains(t, []string{"available", "retryable"}, state, "the long job is left for River to run again")
}
