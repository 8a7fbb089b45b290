package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"
)

func signedTestDelivery(t *testing.T, baseURL, id string) (int, map[string]any) {
	t.Helper()
	body := `{"event":"ping","zen":"Design for failure."}`
	m := hmac.New(sha256.New, []byte("test-secret"))
	m.Write([]byte(body))
	req, err := http.NewRequest(http.MethodPost, baseURL+"/api/webhooks/test", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Webhook-Signature", "sha256="+hex.EncodeToString(m.Sum(nil)))
	req.Header.Set("X-Webhook-Id", id)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return resp.StatusCode, out
}

// The served binary wires the registry from the environment, logs the
// disabled sources, stores a delivery and has its workers process it.
func TestServeWebhooks(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "API_TOKEN=tok", "STRIPE_WEBHOOK_SECRET=s1,s2")
	require.True(t, srv.logs.Contains(`"msg":"webhook source disabled: no secret configured","source":"github"`), srv.logs.String())
	require.False(t, srv.logs.Contains(`"source":"stripe","set"`))

	resp, err := http.Post(srv.URL+"/api/webhooks/github", "application/json", strings.NewReader("{}"))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "a source without a secret is disabled")

	status, created := signedTestDelivery(t, srv.URL, "e2e-1")
	require.Equal(t, http.StatusCreated, status, "%v", created)
	id := created["id"].(string)
	status, dup := signedTestDelivery(t, srv.URL, "e2e-1")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, true, dup["duplicate"])
	require.Equal(t, id, dup["id"])

	get := func() (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/webhooks/"+id, nil)
		req.Header.Set("Authorization", "Bearer tok")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var out map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		return resp.StatusCode, out
	}
	require.Eventually(t, func() bool {
		status, rec := get()
		return status == http.StatusOK && rec["processed_at"] != nil
	}, 20*time.Second, 50*time.Millisecond, "the process-webhook job sets processed_at")
}

// With REDIS_ADDR at a closed port the server still stores deliveries and
// still catches duplicates.
func TestServeWebhooksRedisDown(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "REDIS_ADDR=127.0.0.1:1")
	status, first := signedTestDelivery(t, srv.URL, "redis-down")
	require.Equal(t, http.StatusCreated, status, "%v", first)
	status, dup := signedTestDelivery(t, srv.URL, "redis-down")
	require.Equal(t, http.StatusOK, status, "%v", dup)
	require.Equal(t, first["id"], dup["id"])
}

func TestWebhookConfiguration(t *testing.T) {
	t.Parallel()
	_, err := loadConfig([]string{"GITHUB_WEBHOOK_SECRET=a,,b"})
	require.Error(t, err)
	require.True(t, strings.HasPrefix(err.Error(), "GITHUB_WEBHOOK_SECRET: "), err.Error())
	require.NotContains(t, err.Error(), "a,,b", "the secret is not repeated")

	_, err = loadConfig([]string{"WEBHOOK_SECRET_BAD.NAME=x"})
	require.ErrorContains(t, err, "WEBHOOK_SECRET_BAD.NAME: ")

	c, err := loadConfig([]string{"WEBHOOK_SECRET_SHOPIFY=x,y"})
	require.NoError(t, err)
	require.Equal(t, []string{"shopify", "test"}, c.Webhooks.Enabled())

	c, err = loadConfig([]string{"BESPIN_ENV=production", "API_TOKEN=t"})
	require.NoError(t, err)
	require.Empty(t, c.Webhooks.Enabled(), "no test-secret default in production")

	// The whole start refuses bad secrets with one line.
	err = run(t.Context(), []string{"bespin-api"}, []string{"STRIPE_WEBHOOK_SECRET=,"}, io.Discard, io.Discard)
	require.ErrorContains(t, err, "STRIPE_WEBHOOK_SECRET: ")
}

// A dashboard on ?topic=webhooks sees each new receipt once (not its
// duplicates), as a summary without the payload.
func TestWebhooksTopicStream(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "API_TOKEN=tok")
	wsURL := "ws" + strings.TrimPrefix(srv.URL, "http") + "/api/ws?topic=webhooks"
	_, resp, err := websocket.DefaultDialer.Dial(wsURL, nil)
	require.Error(t, err, "the stream needs the token")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	conn, _, err := websocket.DefaultDialer.Dial(wsURL, http.Header{"Authorization": {"Bearer tok"}})
	require.NoError(t, err)
	defer conn.Close()

	status, created := signedTestDelivery(t, srv.URL, "stream-1")
	require.Equal(t, http.StatusCreated, status)
	status, _ = signedTestDelivery(t, srv.URL, "stream-1")
	require.Equal(t, http.StatusOK, status)
	status, second := signedTestDelivery(t, srv.URL, "stream-2")
	require.Equal(t, http.StatusCreated, status)

	for _, want := range []map[string]any{created, second} {
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
		_, data, err := conn.ReadMessage()
		require.NoError(t, err)
		var got map[string]any
		require.NoError(t, json.Unmarshal(data, &got))
		require.Equal(t, want["id"], got["id"], "receipts arrive in order, the duplicate is not announced")
		require.Equal(t, "test", got["source"])
		require.Equal(t, "ping", got["event"])
		require.NotContains(t, string(data), "Design for failure", "the payload is never streamed")
	}
}
