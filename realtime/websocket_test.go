package realtime

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"
)

// One client address holds at most MaxConnsPerClient connections; a
// closed one frees its slot, and a refused or failed upgrade holds none.
func TestConnectionsPerClientCapped(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{serverCfg: func(c *ServerConfig) { c.MaxConnsPerClient = 2 }})
	url := b.url + "?job_id=" + strconv.FormatInt(b.insertJob(t), 10)

	first := dial(t, url)
	dial(t, url)
	_, resp, err := websocket.DefaultDialer.Dial(url, nil)
	require.ErrorIs(t, err, websocket.ErrBadHandshake)
	resp.Body.Close()
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "the third connection from one address is refused")

	// A plain request fails its upgrade and must give its slot back.
	plain, err := http.Get("http" + strings.TrimPrefix(url, "ws"))
	require.NoError(t, err)
	plain.Body.Close()

	first.Close()
	require.Eventually(t, func() bool {
		conn, resp, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			resp.Body.Close()
			return false
		}
		conn.Close()
		return true
	}, 15*time.Second, 20*time.Millisecond, "a closed connection frees its slot")
}

// Clients have nothing to send but control frames: a frame over the read
// limit closes the connection with 1009 (message too big).
func TestClientFrameOverReadLimitCloses(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	conn := dial(t, b.url+"?job_id="+strconv.FormatInt(b.insertJob(t), 10))
	require.Equal(t, "pending", readStatus(t, conn).Status)
	require.NoError(t, conn.WriteMessage(websocket.TextMessage, make([]byte, readLimit+1)))
	requireClose(t, conn, websocket.CloseMessageTooBig)
}

func TestCheckHandshake(t *testing.T) {
	t.Parallel()
	req := func(h map[string]string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/api/ws?job_id=1", nil)
		for k, v := range h {
			r.Header.Set(k, v)
		}
		return r
	}
	good := map[string]string{"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
	require.NoError(t, CheckHandshake(req(good)))
	require.ErrorIs(t, CheckHandshake(req(nil)), ErrNotWebSocket)
	for header, value := range map[string]string{"Sec-WebSocket-Version": "8", "Sec-WebSocket-Key": "short"} {
		h := map[string]string{}
		for k, v := range good {
			h[k] = v
		}
		h[header] = value
		err := CheckHandshake(req(h))
		require.ErrorContains(t, err, header)
		require.NotErrorIs(t, err, ErrNotWebSocket)
	}
}
