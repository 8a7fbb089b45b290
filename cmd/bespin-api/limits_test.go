package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"
)

// Headers are bounded on every route (HTTP_MAX_HEADER_BYTES; net/http
// answers 431 itself) and more tightly on the webhook route
// (WEBHOOK_MAX_HEADER_BYTES; a JSON 431).
func TestRequestHeaderLimits(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "HTTP_MAX_HEADER_BYTES=8192", "WEBHOOK_MAX_HEADER_BYTES=2048")
	get := func(pad int) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/healthz", nil)
		req.Header.Set("X-Pad", strings.Repeat("p", pad))
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp
	}
	require.Equal(t, http.StatusOK, get(4096).StatusCode)
	// net/http allows 4 KiB of slack over MaxHeaderBytes.
	require.Equal(t, http.StatusRequestHeaderFieldsTooLarge, get(16384).StatusCode)

	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/webhooks/test", strings.NewReader(`{"event":"ping"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Pad", strings.Repeat("p", 4096))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusRequestHeaderFieldsTooLarge, resp.StatusCode)
	var e errorResponse
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&e))
	require.Equal(t, "headers_too_large", e.Error.Code)
}

// A client that does not finish its headers within
// HTTP_READ_HEADER_TIMEOUT (slowloris) is disconnected.
func TestSlowHeadersDropped(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "HTTP_READ_HEADER_TIMEOUT=500ms")
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.Write([]byte("GET /healthz HTTP/1.1\r\nHost: bespin\r\nX-Slow: "))
	require.NoError(t, err)
	// Far beyond the timeout, so a loaded machine cannot make it flake;
	// what matters is that the server hangs up, not when.
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(30*time.Second)))
	_, err = bufio.NewReader(conn).ReadByte()
	require.Error(t, err)
	var netErr net.Error
	require.False(t, errors.As(err, &netErr) && netErr.Timeout(), "the server kept the connection open: %v", err)
	require.ErrorIs(t, err, io.EOF)
}

// One client address may hold WS_MAX_CONNECTIONS_PER_IP WebSockets; the
// next is refused with a JSON 429 before upgrading, and a closed one frees
// its slot.
func TestWebSocketConnectionsPerIP(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "WS_MAX_CONNECTIONS_PER_IP=2", "RUN_WORKERS=false")
	job := createJob(t, srv.URL, "")
	first := watch(t, srv.URL, job.JobID)
	watch(t, srv.URL, job.JobID)

	_, resp, err := websocket.DefaultDialer.Dial(wsURL(srv.URL, "/api/ws?job_id="+job.JobID), nil)
	require.ErrorIs(t, err, websocket.ErrBadHandshake)
	defer resp.Body.Close()
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	var e errorResponse
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&e))
	require.Equal(t, "too_many_connections", e.Error.Code)
	require.Contains(t, e.Error.Message, "WS_MAX_CONNECTIONS_PER_IP")

	first.Close()
	require.Eventually(t, func() bool {
		conn, resp, err := websocket.DefaultDialer.Dial(wsURL(srv.URL, "/api/ws?job_id="+job.JobID), nil)
		if err != nil {
			resp.Body.Close()
			return false
		}
		conn.Close()
		return true
	}, 15*time.Second, 50*time.Millisecond)
}
