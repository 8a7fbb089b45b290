package main

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Sources with a configured scheme, through the served binary: Shopify's
// base64 header, and Twilio's form deliveries, whose signature covers the
// URL the sender posted to (rebuilt from the request, from the forwarded
// headers only when the peer is a trusted proxy).
func TestServeConfiguredSchemes(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "API_TOKEN=tok", "TRUSTED_PROXIES=127.0.0.1/32",
		"WEBHOOK_SECRET_SHOPIFY=hush", "WEBHOOK_SCHEME_SHOPIFY=shopify",
		"WEBHOOK_SECRET_TWILIO=auth-token", "WEBHOOK_SCHEME_TWILIO=twilio",
	)
	post := func(path, contentType, body string, kv ...string) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", contentType)
		for i := 0; i < len(kv); i += 2 {
			req.Header.Set(kv[i], kv[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var out map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		return resp.StatusCode, out
	}
	shopifySig := func(body string) string {
		m := hmac.New(sha256.New, []byte("hush"))
		m.Write([]byte(body))
		return base64.StdEncoding.EncodeToString(m.Sum(nil))
	}
	twilioSig := func(url, sorted string) string {
		m := hmac.New(sha1.New, []byte("auth-token"))
		m.Write([]byte(url + sorted))
		return base64.StdEncoding.EncodeToString(m.Sum(nil))
	}

	order := `{"id":1,"email":"jon@example.com"}`
	status, out := post("/api/webhooks/shopify", "application/json", order,
		"X-Shopify-Hmac-Sha256", shopifySig(order), "X-Shopify-Topic", "orders/create", "X-Shopify-Webhook-Id", "wh-1")
	require.Equal(t, http.StatusCreated, status, "%v", out)
	require.Equal(t, "orders/create", out["event"])
	status, out = post("/api/webhooks/shopify", "application/json", order,
		"X-Shopify-Hmac-Sha256", shopifySig(order), "X-Shopify-Topic", "orders/create", "X-Shopify-Webhook-Id", "wh-1")
	require.Equal(t, http.StatusOK, status, "%v", out)
	require.Equal(t, true, out["duplicate"], "X-Shopify-Webhook-Id is the delivery id")
	status, out = post("/api/webhooks/shopify", "application/json", order, "X-Webhook-Signature", "sha256="+strings.Repeat("0", 64))
	require.Equal(t, http.StatusUnauthorized, status, "%v", out)

	form := "MessageSid=SM1&MessageStatus=delivered&To=%2B15558675310"
	sorted := "MessageSidSM1MessageStatusdeliveredTo+15558675310"
	status, out = post("/api/webhooks/twilio", "application/x-www-form-urlencoded", form,
		"X-Twilio-Signature", twilioSig(srv.URL+"/api/webhooks/twilio", sorted), "I-Twilio-Idempotency-Token", "idem-1")
	require.Equal(t, http.StatusCreated, status, "%v", out)
	require.Equal(t, "delivered", out["event"])

	// As Twilio sees it through a TLS-terminating proxy on this host.
	public := "https://hooks.example.com/api/webhooks/twilio"
	status, out = post("/api/webhooks/twilio", "application/x-www-form-urlencoded", form,
		"X-Twilio-Signature", twilioSig(public, sorted), "I-Twilio-Idempotency-Token", "idem-2",
		"X-Forwarded-Proto", "https", "X-Forwarded-Host", "hooks.example.com")
	require.Equal(t, http.StatusCreated, status, "%v", out)
	status, out = post("/api/webhooks/twilio", "application/x-www-form-urlencoded", form,
		"X-Twilio-Signature", twilioSig(public, sorted), "I-Twilio-Idempotency-Token", "idem-3")
	require.Equal(t, http.StatusUnauthorized, status, "%v", out)

	// The stored receipt: the form as a JSON object, the signature in its
	// column and nowhere in the headers.
	status, created := post("/api/webhooks/twilio", "application/x-www-form-urlencoded", form,
		"X-Twilio-Signature", twilioSig(srv.URL+"/api/webhooks/twilio", sorted), "I-Twilio-Idempotency-Token", "idem-4")
	require.Equal(t, http.StatusCreated, status)
	get, err := http.NewRequest(http.MethodGet, srv.URL+"/api/webhooks/"+created["id"].(string), nil)
	require.NoError(t, err)
	get.Header.Set("Authorization", "Bearer tok")
	resp, err := http.DefaultClient.Do(get)
	require.NoError(t, err)
	defer resp.Body.Close()
	var rec struct {
		DeliveryID string              `json:"delivery_id"`
		Signature  string              `json:"signature"`
		Headers    map[string][]string `json:"headers"`
		Payload    map[string]any      `json:"payload"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&rec))
	require.Equal(t, "idem-4", rec.DeliveryID)
	require.Equal(t, map[string]any{"MessageSid": "SM1", "MessageStatus": "delivered", "To": "+15558675310"}, rec.Payload)
	require.Equal(t, twilioSig(srv.URL+"/api/webhooks/twilio", sorted), rec.Signature)
	require.Equal(t, []string{"[redacted]"}, rec.Headers["X-Twilio-Signature"])
}
