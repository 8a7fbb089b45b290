package webhook_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bespin/bespin/internal/env"
	"github.com/bespin/bespin/webhook"
)

var now = time.Unix(1_800_000_000, 0)

func registry(t *testing.T, environ ...string) *webhook.Registry {
	t.Helper()
	r, err := webhook.NewRegistry(env.Parse(environ), webhook.Options{Development: true, Tolerance: 5 * time.Minute})
	require.NoError(t, err)
	return r
}

func source(t *testing.T, r *webhook.Registry, name string) *webhook.Source {
	t.Helper()
	s, ok := r.Source(name)
	require.True(t, ok, "source %s enabled", name)
	return s
}

func hmacHex(secret, content string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(content))
	return hex.EncodeToString(m.Sum(nil))
}

func hmacB64(key []byte, content string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(content))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func headers(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

// GitHub's documented example ("Validating webhook deliveries"): secret
// "It's a Secret to Everybody", payload "Hello, World!".
func TestGitHubDocumentedExample(t *testing.T) {
	t.Parallel()
	s := source(t, registry(t, "GITHUB_WEBHOOK_SECRET=It's a Secret to Everybody"), "github")
	h := headers("X-Hub-Signature-256", "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
	v, err := s.Verify(webhook.Request{Header: h, Body: []byte("Hello, World!")}, now)
	require.NoError(t, err)
	require.Equal(t, webhook.SchemeGitHub, v.Scheme)

	_, err = s.Verify(webhook.Request{Header: h, Body: []byte("Hello, World?")}, now)
	require.ErrorIs(t, err, webhook.ErrUnauthorized)
}

// The Standard Webhooks reference test vector (the one used across the
// standard-webhooks libraries' test suites): if any byte of the algorithm
// (id.timestamp.body, base64-decoded whsec_ key, base64 output) were wrong,
// this HMAC could not match.
func TestStandardWebhooksSpecVector(t *testing.T) {
	t.Parallel()
	s := source(t, registry(t, "WEBHOOK_SECRET_ACME=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), "acme")
	h := headers(
		"webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek",
		"webhook-timestamp", "1614265330",
		"webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
	)
	v, err := s.Verify(webhook.Request{Header: h, Body: []byte(`{"test": 2432232314}`)}, time.Unix(1614265330, 0))
	require.NoError(t, err)
	require.Equal(t, webhook.SchemeStandard, v.Scheme)
	require.Equal(t, "msg_p5jXN8AQM9LWM0D4loKWxJek", v.DeliveryID)
}

type sendGridKey struct {
	priv *ecdsa.PrivateKey
	b64  string // base64 DER public key, as SendGrid shows it
}

func newSendGridKey(t *testing.T) sendGridKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	require.NoError(t, err)
	return sendGridKey{priv: priv, b64: base64.StdEncoding.EncodeToString(der)}
}

func (k sendGridKey) sign(t *testing.T, ts, body string) string {
	t.Helper()
	d := sha256.Sum256([]byte(ts + body))
	sig, err := ecdsa.SignASN1(rand.Reader, k.priv, d[:])
	require.NoError(t, err)
	return base64.StdEncoding.EncodeToString(sig)
}

// TestVerify covers every scheme: good, rotated, wrong secret, tampered
// body, stale and future timestamps, malformed headers. Vectors other than
// the two published ones above are constructed from each scheme's
// documented algorithm.
func TestVerify(t *testing.T) {
	t.Parallel()
	sg := newSendGridKey(t)
	otherSG := newSendGridKey(t)
	reg := registry(t,
		"GITHUB_WEBHOOK_SECRET=gh-old, gh-new",
		"STRIPE_WEBHOOK_SECRET=whsec_stripe1,whsec_stripe2",
		"SENDGRID_WEBHOOK_PUBLIC_KEY="+sg.b64,
		"WEBHOOK_SECRET_ACME=acme-1,whsec_"+base64.StdEncoding.EncodeToString([]byte("acme-standard-key")),
	)
	body := `{"event":"ping","type":"charge.succeeded","id":"evt_1"}`
	ts := strconv.FormatInt(now.Unix(), 10)
	stale := strconv.FormatInt(now.Add(-6*time.Minute).Unix(), 10)
	future := strconv.FormatInt(now.Add(6*time.Minute).Unix(), 10)
	stdKey := []byte("acme-standard-key")
	std := func(id, ts, body string) string { return "v1," + hmacB64(stdKey, id+"."+ts+"."+body) }
	sgBody := `[{"event":"delivered","sg_event_id":"a"}]`

	for _, tc := range []struct {
		name   string
		source string
		h      http.Header
		body   string
		scheme webhook.Scheme // "" = must fail with ErrUnauthorized
	}{
		{"generic ok", "test", headers("X-Webhook-Signature", hmacHex("test-secret", body)), body, webhook.SchemeGeneric},
		{"generic sha256= prefix", "test", headers("X-Webhook-Signature", "sha256="+hmacHex("test-secret", body)), body, webhook.SchemeGeneric},
		{"generic upper-case hex", "test", headers("X-Webhook-Signature", strings.ToUpper(hmacHex("test-secret", body))), body, webhook.SchemeGeneric},
		{"generic wrong secret", "test", headers("X-Webhook-Signature", hmacHex("nope", body)), body, ""},
		{"generic tampered body", "test", headers("X-Webhook-Signature", hmacHex("test-secret", body)), body + " ", ""},
		{"generic not hex", "test", headers("X-Webhook-Signature", strings.Repeat("z", 64)), body, ""},
		{"generic short", "test", headers("X-Webhook-Signature", "abcd"), body, ""},
		{"generic empty", "test", headers("X-Webhook-Signature", ""), body, ""},
		{"no signature", "test", headers("X-Webhook-Event", "ping"), body, ""},

		{"github first secret", "github", headers("X-Hub-Signature-256", "sha256="+hmacHex("gh-old", body)), body, webhook.SchemeGitHub},
		{"github rotated secret", "github", headers("X-Hub-Signature-256", "sha256="+hmacHex("gh-new", body)), body, webhook.SchemeGitHub},
		{"github missing prefix", "github", headers("X-Hub-Signature-256", hmacHex("gh-new", body)), body, ""},
		{"github wrong secret", "github", headers("X-Hub-Signature-256", "sha256="+hmacHex("test-secret", body)), body, ""},
		{"github tampered", "github", headers("X-Hub-Signature-256", "sha256="+hmacHex("gh-new", body)), "{}", ""},

		{"stripe ok", "stripe", headers("Stripe-Signature", "t="+ts+",v1="+hmacHex("whsec_stripe1", ts+"."+body)), body, webhook.SchemeStripe},
		{"stripe second v1 matches", "stripe", headers("Stripe-Signature", "t="+ts+",v1="+hmacHex("x", ts+"."+body)+",v1="+hmacHex("whsec_stripe2", ts+"."+body)+",v0=ignored"), body, webhook.SchemeStripe},
		{"stripe wrong secret", "stripe", headers("Stripe-Signature", "t="+ts+",v1="+hmacHex("whsec_other", ts+"."+body)), body, ""},
		{"stripe tampered", "stripe", headers("Stripe-Signature", "t="+ts+",v1="+hmacHex("whsec_stripe1", ts+"."+body)), body + "x", ""},
		{"stripe signed other t", "stripe", headers("Stripe-Signature", "t="+ts+",v1="+hmacHex("whsec_stripe1", stale+"."+body)), body, ""},
		{"stripe stale", "stripe", headers("Stripe-Signature", "t="+stale+",v1="+hmacHex("whsec_stripe1", stale+"."+body)), body, ""},
		{"stripe future", "stripe", headers("Stripe-Signature", "t="+future+",v1="+hmacHex("whsec_stripe1", future+"."+body)), body, ""},
		{"stripe no t", "stripe", headers("Stripe-Signature", "v1="+hmacHex("whsec_stripe1", ts+"."+body)), body, ""},
		{"stripe no v1", "stripe", headers("Stripe-Signature", "t="+ts+",v0=abc"), body, ""},
		{"stripe negative t", "stripe", headers("Stripe-Signature", "t=-1,v1="+hmacHex("whsec_stripe1", "-1."+body)), body, ""},
		{"stripe garbage", "stripe", headers("Stripe-Signature", "garbage"), body, ""},

		{"standard ok", "acme", headers("webhook-id", "msg_1", "webhook-timestamp", ts, "webhook-signature", std("msg_1", ts, body)), body, webhook.SchemeStandard},
		{"standard several, one good", "acme", headers("webhook-id", "msg_1", "webhook-timestamp", ts, "webhook-signature", "v1a,xyz v1,"+hmacB64([]byte("no"), "x")+" "+std("msg_1", ts, body)), body, webhook.SchemeStandard},
		{"standard on a built-in source", "test", headers("webhook-id", "msg_1", "webhook-timestamp", ts, "webhook-signature", "v1,"+hmacB64([]byte("test-secret"), "msg_1."+ts+"."+body)), body, webhook.SchemeStandard},
		{"standard other id", "acme", headers("webhook-id", "msg_2", "webhook-timestamp", ts, "webhook-signature", std("msg_1", ts, body)), body, ""},
		{"standard tampered", "acme", headers("webhook-id", "msg_1", "webhook-timestamp", ts, "webhook-signature", std("msg_1", ts, body)), body + "\n", ""},
		{"standard stale", "acme", headers("webhook-id", "msg_1", "webhook-timestamp", stale, "webhook-signature", std("msg_1", stale, body)), body, ""},
		{"standard future", "acme", headers("webhook-id", "msg_1", "webhook-timestamp", future, "webhook-signature", std("msg_1", future, body)), body, ""},
		{"standard missing id", "acme", headers("webhook-timestamp", ts, "webhook-signature", std("", ts, body)), body, ""},
		{"standard bad timestamp", "acme", headers("webhook-id", "msg_1", "webhook-timestamp", "soon", "webhook-signature", std("msg_1", "soon", body)), body, ""},
		{"standard not base64", "acme", headers("webhook-id", "msg_1", "webhook-timestamp", ts, "webhook-signature", "v1,!!!"), body, ""},
		{"standard no v1", "acme", headers("webhook-id", "msg_1", "webhook-timestamp", ts, "webhook-signature", "v2,abc"), body, ""},

		{"sendgrid ok", "sendgrid", headers("X-Twilio-Email-Event-Webhook-Signature", sg.sign(t, ts, sgBody), "X-Twilio-Email-Event-Webhook-Timestamp", ts), sgBody, webhook.SchemeSendGrid},
		{"sendgrid other key", "sendgrid", headers("X-Twilio-Email-Event-Webhook-Signature", otherSG.sign(t, ts, sgBody), "X-Twilio-Email-Event-Webhook-Timestamp", ts), sgBody, ""},
		{"sendgrid tampered", "sendgrid", headers("X-Twilio-Email-Event-Webhook-Signature", sg.sign(t, ts, sgBody), "X-Twilio-Email-Event-Webhook-Timestamp", ts), sgBody + " ", ""},
		{"sendgrid timestamp swapped", "sendgrid", headers("X-Twilio-Email-Event-Webhook-Signature", sg.sign(t, ts, sgBody), "X-Twilio-Email-Event-Webhook-Timestamp", strconv.FormatInt(now.Unix()+1, 10)), sgBody, ""},
		{"sendgrid stale", "sendgrid", headers("X-Twilio-Email-Event-Webhook-Signature", sg.sign(t, stale, sgBody), "X-Twilio-Email-Event-Webhook-Timestamp", stale), sgBody, ""},
		{"sendgrid future", "sendgrid", headers("X-Twilio-Email-Event-Webhook-Signature", sg.sign(t, future, sgBody), "X-Twilio-Email-Event-Webhook-Timestamp", future), sgBody, ""},
		{"sendgrid no timestamp", "sendgrid", headers("X-Twilio-Email-Event-Webhook-Signature", sg.sign(t, ts, sgBody)), sgBody, ""},
		{"sendgrid not base64", "sendgrid", headers("X-Twilio-Email-Event-Webhook-Signature", "%%%", "X-Twilio-Email-Event-Webhook-Timestamp", ts), sgBody, ""},
		{"sendgrid on a source without a key", "test", headers("X-Twilio-Email-Event-Webhook-Signature", sg.sign(t, ts, sgBody), "X-Twilio-Email-Event-Webhook-Timestamp", ts), sgBody, ""},
		{"hmac scheme on a key-only source", "sendgrid", headers("X-Webhook-Signature", hmacHex("", body)), body, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v, err := source(t, reg, tc.source).Verify(webhook.Request{Header: tc.h, Body: []byte(tc.body)}, now)
			if tc.scheme == "" {
				require.ErrorIs(t, err, webhook.ErrUnauthorized)
				var we *webhook.Error
				require.True(t, errors.As(err, &we))
				require.NotEmpty(t, we.Message)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.scheme, v.Scheme)
		})
	}
}

// The error a client sees never contains what the signature should have
// been.
func TestVerifyNeverEchoesExpected(t *testing.T) {
	t.Parallel()
	s := source(t, registry(t), "test")
	body := `{"event":"x"}`
	want := hmacHex("test-secret", body)
	_, err := s.Verify(webhook.Request{Header: headers("X-Webhook-Signature", hmacHex("wrong", body)), Body: []byte(body)}, now)
	require.Error(t, err)
	require.NotContains(t, err.Error(), want)
	require.NotContains(t, err.Error(), "test-secret")
}

func TestParsePayload(t *testing.T) {
	t.Parallel()
	sgBody := `[{"event":"delivered","sg_event_id":"a"},{"event":"open","sg_event_id":"b"}]`
	sgSum := sha256.Sum256([]byte(sgBody))
	for _, tc := range []struct {
		name     string
		v        webhook.Verification
		h        http.Header
		enc      webhook.Encoding
		body     string
		event    string
		delivery string
		payload  string
		err      error
	}{
		{name: "generic event from header", v: webhook.Verification{Scheme: webhook.SchemeGeneric, Event: "push"}, body: `{"event":"body"}`, event: "push"},
		{name: "generic event from body", v: webhook.Verification{Scheme: webhook.SchemeGeneric}, body: `{"event":"body"}`, event: "body"},
		{name: "generic idempotency key", v: webhook.Verification{Scheme: webhook.SchemeGeneric}, h: headers("Idempotency-Key", "k1", "X-Webhook-Id", "w1"), body: `{"event":"e"}`, event: "e", delivery: "k1"},
		{name: "generic x-webhook-id", v: webhook.Verification{Scheme: webhook.SchemeGeneric}, h: headers("X-Webhook-Id", "w1"), body: `{"event":"e"}`, event: "e", delivery: "w1"},
		{name: "generic no event", v: webhook.Verification{Scheme: webhook.SchemeGeneric}, body: `{"type":"x"}`, err: webhook.ErrMissingEvent},
		{name: "generic event not a string", v: webhook.Verification{Scheme: webhook.SchemeGeneric}, body: `{"event":3}`, err: webhook.ErrMissingEvent},
		{name: "array without header", v: webhook.Verification{Scheme: webhook.SchemeGeneric}, body: `[1,2]`, err: webhook.ErrMissingEvent},
		{name: "not json", v: webhook.Verification{Scheme: webhook.SchemeGeneric, Event: "e"}, body: `{"event":`, err: webhook.ErrInvalidPayload},
		{name: "not utf-8", v: webhook.Verification{Scheme: webhook.SchemeGeneric, Event: "e"}, body: "{\"a\":\"\xff\"}", err: webhook.ErrInvalidPayload},
		{name: "event too long", v: webhook.Verification{Scheme: webhook.SchemeGeneric}, body: `{"event":"` + strings.Repeat("e", 256) + `"}`, err: webhook.ErrInvalidPayload},
		{name: "delivery id with control characters", v: webhook.Verification{Scheme: webhook.SchemeGeneric, Event: "e"}, h: headers("Idempotency-Key", "a\x01b"), body: `{}`, err: webhook.ErrInvalidPayload},
		{name: "github json", v: webhook.Verification{Scheme: webhook.SchemeGitHub, Event: "push", DeliveryID: "d-1"}, body: `{"zen":"x"}`, event: "push", delivery: "d-1"},
		{name: "github form", v: webhook.Verification{Scheme: webhook.SchemeGitHub, Event: "push", DeliveryID: "d-1"}, enc: webhook.EncodingForm, body: "payload=%7B%22zen%22%3A%22x%22%7D", event: "push", delivery: "d-1", payload: `{"zen":"x"}`},
		{name: "github form without payload", v: webhook.Verification{Scheme: webhook.SchemeGitHub, Event: "push"}, enc: webhook.EncodingForm, body: "other=1", err: webhook.ErrInvalidPayload},
		{name: "github form bad json", v: webhook.Verification{Scheme: webhook.SchemeGitHub, Event: "push"}, enc: webhook.EncodingForm, body: "payload=%7B", err: webhook.ErrInvalidPayload},
		{name: "github no event header", v: webhook.Verification{Scheme: webhook.SchemeGitHub}, body: `{"event":"not used"}`, err: webhook.ErrMissingEvent},
		{name: "stripe", v: webhook.Verification{Scheme: webhook.SchemeStripe}, h: headers("Idempotency-Key", "ignored"), body: `{"id":"evt_1","type":"charge.succeeded"}`, event: "charge.succeeded", delivery: "evt_1"},
		{name: "stripe without type", v: webhook.Verification{Scheme: webhook.SchemeStripe}, body: `{"id":"evt_1"}`, err: webhook.ErrMissingEvent},
		{name: "standard type", v: webhook.Verification{Scheme: webhook.SchemeStandard, DeliveryID: "msg_1"}, body: `{"type":"invoice.paid","data":{}}`, event: "invoice.paid", delivery: "msg_1"},
		{name: "standard type before event", v: webhook.Verification{Scheme: webhook.SchemeStandard}, body: `{"event":"e","type":"t"}`, event: "t"},
		{name: "standard event when type is not a string", v: webhook.Verification{Scheme: webhook.SchemeStandard}, body: `{"type":3,"event":" e "}`, event: "e"},
		{name: "standard event header last", v: webhook.Verification{Scheme: webhook.SchemeStandard}, h: headers("X-Webhook-Event", "h"), body: `{"type":""}`, event: "h"},
		{name: "standard no event", v: webhook.Verification{Scheme: webhook.SchemeStandard}, body: `{"data":{}}`, err: webhook.ErrMissingEvent},
		{name: "sendgrid batch", v: webhook.Verification{Scheme: webhook.SchemeSendGrid}, body: sgBody, event: "batch", delivery: hex.EncodeToString(sgSum[:])},
		{name: "sendgrid single type", v: webhook.Verification{Scheme: webhook.SchemeSendGrid}, body: `[{"event":"open"},{"event":"open"}]`, event: "open"},
		{name: "sendgrid object", v: webhook.Verification{Scheme: webhook.SchemeSendGrid}, body: `{"event":"open"}`, err: webhook.ErrInvalidPayload},
		{name: "sendgrid empty", v: webhook.Verification{Scheme: webhook.SchemeSendGrid}, body: `[]`, err: webhook.ErrMissingEvent},
		{name: "sendgrid event missing", v: webhook.Verification{Scheme: webhook.SchemeSendGrid}, body: `[{"event":"open"},{}]`, err: webhook.ErrMissingEvent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			enc := tc.enc
			if enc == 0 {
				enc = webhook.EncodingJSON
			}
			h := tc.h
			if h == nil {
				h = http.Header{}
			}
			d, err := webhook.ParsePayload(tc.v, h, enc, []byte(tc.body))
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.event, d.Event)
			if tc.delivery != "" {
				require.Equal(t, tc.delivery, d.DeliveryID)
			}
			want := tc.payload
			if want == "" {
				want = tc.body
			}
			require.JSONEq(t, want, string(d.Payload))
		})
	}
}

func TestEncodingOf(t *testing.T) {
	t.Parallel()
	for ct, want := range map[string]webhook.Encoding{
		"application/json":                        webhook.EncodingJSON,
		"application/json; charset=utf-8":         webhook.EncodingJSON,
		"Application/JSON":                        webhook.EncodingJSON,
		"application/vnd.github+json":             webhook.EncodingJSON,
		"application/x-www-form-urlencoded":       webhook.EncodingForm,
		"text/plain":                              0,
		"":                                        0,
		"multipart/form-data; boundary=x":         0,
		"application/json; charset=utf-8; x=\"\"": webhook.EncodingJSON,
		"application/json;;":                      0,
	} {
		got, ok := webhook.EncodingOf(ct)
		require.Equal(t, want != 0, ok, ct)
		require.Equal(t, want, got, ct)
	}
}

func TestRegistry(t *testing.T) {
	t.Parallel()
	r := registry(t, "WEBHOOK_SECRET_SHOP_2=a,b", "GITHUB_WEBHOOK_SECRET=", "SOMETHING=else")
	require.Equal(t, []string{"shop_2", "test"}, r.Enabled())
	require.True(t, source(t, r, "test").DefaultSecret)
	var disabled []string
	for _, d := range r.Disabled() {
		disabled = append(disabled, d.Name)
		require.NotEmpty(t, d.Vars)
	}
	require.Equal(t, []string{"github", "stripe", "sendgrid"}, disabled)
	_, ok := r.Source("github")
	require.False(t, ok, "an empty secret variable leaves the source disabled")

	// Production: no default secret for test.
	prod, err := webhook.NewRegistry(nil, webhook.Options{})
	require.NoError(t, err)
	_, ok = prod.Source("test")
	require.False(t, ok)
	prod, err = webhook.NewRegistry(env.Parse([]string{"TEST_WEBHOOK_SECRET=real"}), webhook.Options{})
	require.NoError(t, err)
	require.False(t, source(t, prod, "test").DefaultSecret)

	sg := newSendGridKey(t)
	r = registry(t, "SENDGRID_WEBHOOK_PUBLIC_KEY="+sg.b64)
	source(t, r, "sendgrid")
}

func TestRegistryErrors(t *testing.T) {
	t.Parallel()
	rsa := "MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAMv7Hjl7cBt6ALcB0Ixh3TQ7JyHW+SLvLMKQ2zJ4Ym7Ftmwn5sP0T4+dOPJR9Zm8IHNnrNRkqpT2dMh4Ffm6KzECAwEAAQ=="
	for _, tc := range []struct{ env, variable string }{
		{"GITHUB_WEBHOOK_SECRET=a,,b", "GITHUB_WEBHOOK_SECRET"},
		{"STRIPE_WEBHOOK_SECRET=a,", "STRIPE_WEBHOOK_SECRET"},
		{"TEST_WEBHOOK_SECRET= ,x", "TEST_WEBHOOK_SECRET"},
		{"WEBHOOK_SECRET_ACME=x,, ", "WEBHOOK_SECRET_ACME"},
		{"WEBHOOK_SECRET_=x", "WEBHOOK_SECRET_"},
		{"WEBHOOK_SECRET_A.B=x", "WEBHOOK_SECRET_A.B"},
		{"SENDGRID_WEBHOOK_PUBLIC_KEY=not base64!", "SENDGRID_WEBHOOK_PUBLIC_KEY"},
		{"SENDGRID_WEBHOOK_PUBLIC_KEY=aGVsbG8=", "SENDGRID_WEBHOOK_PUBLIC_KEY"},
		{"SENDGRID_WEBHOOK_PUBLIC_KEY=" + rsa, "SENDGRID_WEBHOOK_PUBLIC_KEY"},
	} {
		_, err := webhook.NewRegistry(env.Parse([]string{tc.env}), webhook.Options{Development: true})
		var ce *env.Error
		require.True(t, errors.As(err, &ce), tc.env)
		require.Equal(t, tc.variable, ce.Var, tc.env)
		require.True(t, strings.HasPrefix(err.Error(), tc.variable+": "), tc.env)
		require.NotContains(t, err.Error(), "\n")
	}
}

func TestRedactHeaders(t *testing.T) {
	t.Parallel()
	h := headers(
		"X-Hub-Signature-256", "sha256=abc", "Stripe-Signature", "t=1,v1=2", "Authorization", "Bearer x",
		"Webhook-Signature", "v1,x", "X-Custom-Token", "t", "X-GitHub-Event", "push", "Content-Type", "application/json",
	)
	out := webhook.RedactHeaders(h)
	for _, k := range []string{"X-Hub-Signature-256", "Stripe-Signature", "Authorization", "Webhook-Signature", "X-Custom-Token"} {
		require.Equal(t, []string{webhook.RedactedValue}, out[k], k)
	}
	require.Equal(t, []string{"push"}, out["X-Github-Event"])
	require.Equal(t, []string{"application/json"}, out["Content-Type"])
	require.Equal(t, "sha256=abc", h.Get("X-Hub-Signature-256"), "the input is not modified")
}

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	a := webhook.IdempotencyKey("github", "d-1")
	require.Equal(t, a, webhook.IdempotencyKey("github", "d-1"))
	require.NotEqual(t, a, webhook.IdempotencyKey("stripe", "d-1"))
	require.NotEqual(t, a, webhook.IdempotencyKey("github", "d-2"))
	require.True(t, strings.HasPrefix(a, "wh:github:"))
	require.LessOrEqual(t, len(webhook.IdempotencyKey("x", strings.Repeat("y", 255))), 80)
}
