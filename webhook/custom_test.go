package webhook_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bespin/bespin/internal/env"
	"github.com/bespin/bespin/webhook"
)

// vector is one delivery signed the way a provider signs, the source
// configuration that must accept it, and what ParsePayload must find.
type vector struct {
	name      string
	env       []string // WEBHOOK_SECRET_<SRC> first
	source    string
	header    http.Header
	body      string
	url       string
	now       time.Time
	scheme    webhook.Scheme
	sigHeader string
	sigAt     string // the signature starts right after this text in sigHeader
	event     string // "" when the body is not a delivery ParsePayload could read
	delivery  string
	retime    func(h http.Header) // moves the signed timestamp by a second; nil when none
}

func vectors() []vector {
	slackBody := "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
	return []vector{
		{
			// Published: GitHub, "Validating webhook deliveries"
			// (docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries),
			// "Testing the webhook payload validation". The preset must
			// reproduce the built-in scheme.
			name: "github preset", source: "gh2",
			env:       []string{"WEBHOOK_SECRET_GH2=It's a Secret to Everybody", "WEBHOOK_SCHEME_GH2=github"},
			header:    headers("X-Hub-Signature-256", "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"),
			body:      "Hello, World!",
			now:       now,
			scheme:    webhook.SchemeGitHub,
			sigHeader: "X-Hub-Signature-256", sigAt: "sha256=",
		},
		{
			// Published: Slack, "Verifying requests from Slack"
			// (api.slack.com/authentication/verifying-requests-from-slack),
			// the step-by-step walk-through of a slash command: signing
			// secret, X-Slack-Request-Timestamp, raw body and the resulting
			// X-Slack-Signature.
			name: "slack", source: "slack",
			env: []string{"WEBHOOK_SECRET_SLACK=8f742231b10e8888abcd99yyyzzz85a5", "WEBHOOK_SCHEME_SLACK=slack"},
			header: headers(
				"Content-Type", "application/x-www-form-urlencoded",
				"X-Slack-Request-Timestamp", "1531420618",
				"X-Slack-Signature", "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
			),
			body:      slackBody,
			now:       time.Unix(1531420618, 0),
			scheme:    webhook.SchemeSlack,
			sigHeader: "X-Slack-Signature", sigAt: "v0=",
			event:    "/webhook-collect",
			delivery: "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c",
			retime:   func(h http.Header) { h.Set("X-Slack-Request-Timestamp", "1531420619") },
		},
		{
			// Published: Twilio's own helper library documentation,
			// twilio-php docs/usage/validation.rst ("Validate Incoming
			// Requests"): auth token 12345, this URL and these POST fields
			// give RSOYDt4T1cUTdK1PDd93/VVr8B8=. The algorithm is the one
			// twilio.com/docs/usage/webhooks/webhooks-security describes.
			// The example's fields carry no status, so no event: see
			// TestTwilioStatusCallback for ParsePayload.
			name: "twilio", source: "twilio",
			env:       []string{"WEBHOOK_SECRET_TWILIO=12345", "WEBHOOK_SCHEME_TWILIO=twilio"},
			header:    headers("Content-Type", "application/x-www-form-urlencoded", "X-Twilio-Signature", "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
			body:      "To=%2B18005551212&From=%2B14158675309&Digits=1234&Caller=%2B14158675309&CallSid=CA1234567890ABCDE",
			url:       "https://mycompany.com/myapp.php?foo=1&bar=2",
			now:       now,
			scheme:    webhook.SchemeTwilio,
			sigHeader: "X-Twilio-Signature",
		},
		{
			// Shopify publishes the algorithm (shopify.dev/docs/apps/build/
			// webhooks/verify-deliveries: base64 HMAC-SHA256 of the raw body
			// in X-Shopify-Hmac-SHA256) but no test vector. Computed once,
			// independently of this code, with:
			//   printf '%s' '<body>' | openssl dgst -sha256 -hmac hush -binary | base64
			name: "shopify", source: "shopify",
			env: []string{"WEBHOOK_SECRET_SHOPIFY=hush", "WEBHOOK_SCHEME_SHOPIFY=shopify"},
			header: headers(
				"Content-Type", "application/json",
				"X-Shopify-Hmac-Sha256", "caywFtONLHCQ/kdAoRCOAC9s972OdEFX6QvGUQVBTbQ=",
				"X-Shopify-Topic", "orders/create",
				"X-Shopify-Webhook-Id", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
			),
			body:      `{"id":820982911946154508,"email":"jon@example.com","topic":"orders/create"}`,
			now:       now,
			scheme:    webhook.SchemeShopify,
			sigHeader: "X-Shopify-Hmac-Sha256",
			event:     "orders/create", delivery: "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
		},
		{
			// Paddle publishes the header's shape (developer.paddle.com/
			// webhooks/signature-verification: ts=1671552777;h1=<hex> over
			// "{ts}:{raw body}") and an example secret key, but not the body
			// that h1 signs. With that ts and secret and this body:
			//   printf '%s' '1671552777:<body>' | openssl dgst -sha256 -hmac 'pdl_ntfset_...'
			// The second h1 is another secret's, as during a rotation.
			name: "paddle", source: "paddle",
			env: []string{"WEBHOOK_SECRET_PADDLE=pdl_ntfset_01gkpjp8bkm3tm53kdgkx6sms7_6h3qd3uFSi9YCD3OLYAShQI90XTI5vEI", "WEBHOOK_SCHEME_PADDLE=paddle"},
			header: headers(
				"Content-Type", "application/json",
				"Paddle-Signature", "ts=1671552777;h1=2c4bf00c6678c0354be3e444d4d9f87ff9007d63e63ba49caab46bf5a317675c;h1="+strings.Repeat("0", 64),
			),
			body:      `{"event_id":"evt_01gks14ge726w50ce2rdyrdq0p","event_type":"transaction.paid","occurred_at":"2022-12-20T16:12:57.000000Z"}`,
			now:       time.Unix(1671552777, 0),
			scheme:    webhook.SchemePaddle,
			sigHeader: "Paddle-Signature", sigAt: "h1=",
			event: "transaction.paid", delivery: "evt_01gks14ge726w50ce2rdyrdq0p",
			retime: func(h http.Header) {
				h.Set("Paddle-Signature", strings.Replace(h.Get("Paddle-Signature"), "ts=1671552777", "ts=1671552778", 1))
			},
		},
		{
			// Linear documents hex HMAC-SHA256 of the body in
			// Linear-Signature and webhookTimestamp (Unix ms) in the body
			// (linear.app/developers/webhooks), with no test vector:
			//   printf '%s' '<body>' | openssl dgst -sha256 -hmac lin_wh_example_secret
			name: "linear", source: "linear",
			env: []string{"WEBHOOK_SECRET_LINEAR=lin_wh_example_secret", "WEBHOOK_SCHEME_LINEAR=linear"},
			header: headers(
				"Content-Type", "application/json; charset=utf-8",
				"Linear-Signature", "8f974284e8da6dad127bd6039d90ebeb9b82eaa4c50000448e94c9a99d2dcd9e",
				"Linear-Event", "Issue",
				"Linear-Delivery", "234d1a4e-b617-4388-90fe-adc3633d6b72",
			),
			body:      `{"action":"create","type":"Issue","data":{"id":"2174add1-f7c8-44e3-bbf3-2d60b5ea8bc9","title":"Bug"},"webhookTimestamp":1676056940508}`,
			now:       time.UnixMilli(1676056940508),
			scheme:    webhook.SchemeLinear,
			sigHeader: "Linear-Signature",
			event:     "Issue", delivery: "234d1a4e-b617-4388-90fe-adc3633d6b72",
		},
		{
			// GitLab sends the secret token itself in X-Gitlab-Token
			// (docs.gitlab.com/user/project/integrations/webhooks, "Validate
			// payloads by using a secret token"); there is nothing to compute.
			name: "gitlab", source: "gitlab",
			env: []string{"WEBHOOK_SECRET_GITLAB=glwt-old,glwt-new", "WEBHOOK_SCHEME_GITLAB=gitlab"},
			header: headers(
				"Content-Type", "application/json",
				"X-Gitlab-Token", "glwt-new",
				"X-Gitlab-Event", "Push Hook",
				"X-Gitlab-Event-Uuid", "13792a34-cac6-4fda-95a8-c58e00a3954e",
				"Idempotency-Key", "f5e5f430-f57b-4e6e-9fac-d9128cd7232f",
			),
			body:      `{"object_kind":"push","ref":"refs/heads/main"}`,
			now:       now,
			scheme:    webhook.SchemeGitLab,
			sigHeader: "X-Gitlab-Token",
			event:     "Push Hook", delivery: "f5e5f430-f57b-4e6e-9fac-d9128cd7232f",
		},
		{
			// A custom spec with every setting: computed with
			//   printf '%s' '1800000000.{"event":"ping"}' | openssl dgst -sha512 -hmac acme -binary | base64 -w0
			name: "custom", source: "acme",
			env: []string{"WEBHOOK_SECRET_ACME=acme", "WEBHOOK_SCHEME_ACME=header=X-Acme-Signature; algorithm=sha512; encoding=base64; prefix=v1=; " +
				"signed={timestamp}.{body}; timestamp=header:X-Acme-Timestamp; tolerance=5m; event=json:event; id=header:X-Acme-Delivery"},
			header: headers(
				"Content-Type", "application/json",
				"X-Acme-Timestamp", "1800000000",
				"X-Acme-Signature", "v1=J66mVdIrWIzGfCidLdwcnRbJZgzlKBCsX2uC9WLUgrv+NOboWyuMTRSAH+Hl8oPKbQue2Cqpa41tl59OIShTlQ==",
				"X-Acme-Delivery", "d-1",
			),
			body:      `{"event":"ping"}`,
			now:       now,
			scheme:    webhook.SchemeCustom,
			sigHeader: "X-Acme-Signature", sigAt: "v1=",
			event: "ping", delivery: "d-1",
			retime: func(h http.Header) { h.Set("X-Acme-Timestamp", "1800000001") },
		},
	}
}

// alterSignature changes the first character of the signature in value
// (right after at), which changes its decoded bytes in hex and base64 alike.
func alterSignature(value, at string) string {
	i := strings.Index(value, at) + len(at)
	c := byte('0')
	if value[i] == '0' {
		c = '1'
	}
	return value[:i] + string(c) + value[i+1:]
}

func (vec vector) request(h http.Header, body string) webhook.Request {
	return webhook.Request{Header: h, Body: []byte(body), URL: vec.url}
}

func TestSchemeVectors(t *testing.T) {
	t.Parallel()
	for _, vec := range vectors() {
		t.Run(vec.name, func(t *testing.T) {
			t.Parallel()
			s := source(t, registry(t, vec.env...), vec.source)
			refused := func(t *testing.T, s *webhook.Source, h http.Header, body string, at time.Time) {
				t.Helper()
				_, err := s.Verify(vec.request(h, body), at)
				require.ErrorIs(t, err, webhook.ErrUnauthorized)
			}

			v, err := s.Verify(vec.request(vec.header, vec.body), vec.now)
			require.NoError(t, err)
			require.Equal(t, vec.scheme, v.Scheme)
			if vec.event != "" {
				enc, ok := webhook.EncodingOf(vec.header.Get("Content-Type"))
				require.True(t, ok)
				d, err := webhook.ParsePayload(v, vec.header, enc, []byte(vec.body))
				require.NoError(t, err)
				require.Equal(t, vec.event, d.Event)
				require.Equal(t, vec.delivery, d.DeliveryID)
			}

			// Any change of the body, the signature or the signed
			// timestamp is refused, and so is the delivery at another
			// source whose secret differs. (GitLab's token signs nothing:
			// it proves the sender, not the body.)
			if vec.scheme != webhook.SchemeGitLab {
				refused(t, s, vec.header, vec.body+" ", vec.now)
				refused(t, s, vec.header, "X"+vec.body[1:], vec.now)
			}
			altered := vec.header.Clone()
			altered.Set(vec.sigHeader, alterSignature(vec.header.Get(vec.sigHeader), vec.sigAt))
			refused(t, s, altered, vec.body, vec.now)
			other := append([]string{strings.SplitN(vec.env[0], "=", 2)[0] + "=another-secret"}, vec.env[1:]...)
			refused(t, source(t, registry(t, other...), vec.source), vec.header, vec.body, vec.now)
			if vec.retime != nil {
				moved := vec.header.Clone()
				vec.retime(moved)
				refused(t, s, moved, vec.body, vec.now)
			}
			if vec.retime != nil || vec.scheme == webhook.SchemeLinear {
				refused(t, s, vec.header, vec.body, vec.now.Add(6*time.Minute))  // stale
				refused(t, s, vec.header, vec.body, vec.now.Add(-6*time.Minute)) // from the future
			}
			if vec.url != "" {
				_, err := s.Verify(webhook.Request{Header: vec.header, Body: []byte(vec.body), URL: strings.Replace(vec.url, "foo=1", "foo=2", 1)}, vec.now)
				require.ErrorIs(t, err, webhook.ErrUnauthorized)
			}
		})
	}
}

func hmacSHA1B64(key, content string) string {
	m := hmac.New(sha1.New, []byte(key))
	m.Write([]byte(content))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// TestConfiguredScheme covers what the vectors do not: the shapes of
// headers and bodies each scheme must accept or refuse.
func TestConfiguredScheme(t *testing.T) {
	t.Parallel()
	reg := registry(t,
		"WEBHOOK_SECRET_SHOP=shop-old,shop-new", "WEBHOOK_SCHEME_SHOP=shopify",
		"WEBHOOK_SECRET_SLACK=slack-secret", "WEBHOOK_SCHEME_SLACK=slack;tolerance=1m",
		"WEBHOOK_SECRET_PADDLE=pdl", "WEBHOOK_SCHEME_PADDLE=paddle",
		"WEBHOOK_SECRET_LINEAR=lin", "WEBHOOK_SCHEME_LINEAR=linear",
		"WEBHOOK_SECRET_TWILIO=tok", "WEBHOOK_SCHEME_TWILIO=twilio",
		"WEBHOOK_SECRET_GITLAB=glwt", "WEBHOOK_SCHEME_GITLAB=gitlab",
		"TEST_WEBHOOK_SECRET=test-secret", "WEBHOOK_SCHEME_TEST=header=X-Test-Token;algorithm=token",
	)
	body := `{"event":"e","webhookTimestamp":` + strconv.FormatInt(now.UnixMilli(), 10) + `}`
	ts := strconv.FormatInt(now.Unix(), 10)
	shop := func(secret, body string) string { return hmacB64([]byte(secret), body) }
	slackSig := func(ts, body string) string { return "v0=" + hmacHex("slack-secret", "v0:"+ts+":"+body) }
	linearBody := func(at time.Time) string {
		return `{"type":"Issue","webhookTimestamp":` + strconv.FormatInt(at.UnixMilli(), 10) + `}`
	}
	twilioURL := "https://example.com/api/webhooks/twilio"
	jsonSum := sha256.Sum256([]byte(body))
	twilioJSONURL := twilioURL + "?bodySHA256=" + hex.EncodeToString(jsonSum[:])
	form := "Content-Type"

	for _, tc := range []struct {
		name   string
		source string
		h      http.Header
		body   string
		url    string
		ok     bool
	}{
		{"shopify rotated secret", "shop", headers("X-Shopify-Hmac-Sha256", shop("shop-old", body)), body, "", true},
		{"shopify hex instead of base64", "shop", headers("X-Shopify-Hmac-Sha256", hmacHex("shop-new", body)), body, "", false},
		{"shopify only accepts its own scheme", "shop", headers("X-Webhook-Signature", hmacHex("shop-new", body)), body, "", false},
		{"shopify no header", "shop", headers("X-Shopify-Topic", "orders/create"), body, "", false},
		{"shopify truncated", "shop", headers("X-Shopify-Hmac-Sha256", shop("shop-new", body)[:20]), body, "", false},

		{"slack ok", "slack", headers("X-Slack-Request-Timestamp", ts, "X-Slack-Signature", slackSig(ts, body)), body, "", true},
		{"slack upper-case hex", "slack", headers("X-Slack-Request-Timestamp", ts, "X-Slack-Signature", "v0="+strings.ToUpper(hmacHex("slack-secret", "v0:"+ts+":"+body))), body, "", true},
		{"slack no v0= prefix", "slack", headers("X-Slack-Request-Timestamp", ts, "X-Slack-Signature", slackSig(ts, body)[3:]), body, "", false},
		{"slack no timestamp", "slack", headers("X-Slack-Signature", slackSig(ts, body)), body, "", false},
		{"slack timestamp not a number", "slack", headers("X-Slack-Request-Timestamp", "soon", "X-Slack-Signature", slackSig("soon", body)), body, "", false},
		{"slack outside its own 1m tolerance", "slack", headers("X-Slack-Request-Timestamp", strconv.FormatInt(now.Unix()-90, 10), "X-Slack-Signature", slackSig(strconv.FormatInt(now.Unix()-90, 10), body)), body, "", false},

		{"paddle h1 order does not matter", "paddle", headers("Paddle-Signature", "h1="+strings.Repeat("ab", 32)+"; ts="+ts+"; h1="+hmacHex("pdl", ts+":"+body)), body, "", true},
		{"paddle no ts", "paddle", headers("Paddle-Signature", "h1="+hmacHex("pdl", ts+":"+body)), body, "", false},
		{"paddle two ts", "paddle", headers("Paddle-Signature", "ts="+ts+";ts="+ts+";h1="+hmacHex("pdl", ts+":"+body)), body, "", false},
		{"paddle no h1", "paddle", headers("Paddle-Signature", "ts="+ts), body, "", false},
		{"paddle h1 not hex", "paddle", headers("Paddle-Signature", "ts="+ts+";h1=zz"), body, "", false},

		{"linear ok", "linear", headers("Linear-Signature", hmacHex("lin", linearBody(now))), linearBody(now), "", true},
		{"linear stale webhookTimestamp", "linear", headers("Linear-Signature", hmacHex("lin", linearBody(now.Add(-6*time.Minute)))), linearBody(now.Add(-6 * time.Minute)), "", false},
		{"linear webhookTimestamp in seconds", "linear", headers("Linear-Signature", hmacHex("lin", `{"webhookTimestamp":`+ts+`}`)), `{"webhookTimestamp":` + ts + `}`, "", false},
		{"linear no webhookTimestamp", "linear", headers("Linear-Signature", hmacHex("lin", `{"type":"Issue"}`)), `{"type":"Issue"}`, "", false},
		{"linear body not json", "linear", headers("Linear-Signature", hmacHex("lin", "x")), "x", "", false},

		{"twilio default port added", "twilio", headers(form, "application/x-www-form-urlencoded", "X-Twilio-Signature", hmacSHA1B64("tok", "https://example.com:443/api/webhooks/twilioA1")), "A=1", twilioURL, true},
		{"twilio repeated field values sorted", "twilio", headers(form, "application/x-www-form-urlencoded", "X-Twilio-Signature", hmacSHA1B64("tok", twilioURL+"A1A2B+")), "B=%2B&A=2&A=1", twilioURL, true},
		{"twilio other port", "twilio", headers(form, "application/x-www-form-urlencoded", "X-Twilio-Signature", hmacSHA1B64("tok", "https://example.com:8443/api/webhooks/twilioA1")), "A=1", twilioURL, false},
		{"twilio no URL given", "twilio", headers(form, "application/x-www-form-urlencoded", "X-Twilio-Signature", hmacSHA1B64("tok", twilioURL+"A1")), "A=1", "", false},
		{"twilio json with bodySHA256", "twilio", headers(form, "application/json", "X-Twilio-Signature", hmacSHA1B64("tok", twilioJSONURL)), body, twilioJSONURL, true},
		{"twilio json body changed", "twilio", headers(form, "application/json", "X-Twilio-Signature", hmacSHA1B64("tok", twilioJSONURL)), body + " ", twilioJSONURL, false},
		{"twilio json without bodySHA256", "twilio", headers(form, "application/json", "X-Twilio-Signature", hmacSHA1B64("tok", twilioURL)), body, twilioURL, false},

		{"gitlab wrong token", "gitlab", headers("X-Gitlab-Token", "glwt2"), body, "", false},
		{"gitlab empty token", "gitlab", headers("X-Gitlab-Token", ""), body, "", false},
		{"token on a built-in source", "test", headers("X-Test-Token", "test-secret"), body, "", true},
		{"built-in source with a scheme refuses the generic one", "test", headers("X-Webhook-Signature", hmacHex("test-secret", body)), body, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v, err := source(t, reg, tc.source).Verify(webhook.Request{Header: tc.h, Body: []byte(tc.body), URL: tc.url}, now)
			if tc.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, webhook.ErrUnauthorized)
			var we *webhook.Error
			require.True(t, errors.As(err, &we))
			require.NotEmpty(t, we.Message)
			require.Empty(t, v.Scheme)
		})
	}
}

// A shared token is the secret: it must not be stored as the receipt's
// signature, and a refusal names the header, never the token.
func TestTokenSchemeStoresNoSecret(t *testing.T) {
	t.Parallel()
	s := source(t, registry(t, "WEBHOOK_SECRET_GITLAB=glwt-secret", "WEBHOOK_SCHEME_GITLAB=gitlab"), "gitlab")
	v, err := s.Verify(webhook.Request{Header: headers("X-Gitlab-Token", "glwt-secret")}, now)
	require.NoError(t, err)
	require.Equal(t, webhook.RedactedValue, v.Signature)
	_, err = s.Verify(webhook.Request{Header: headers("X-Gitlab-Token", "glwt-secreT")}, now)
	require.ErrorContains(t, err, "X-Gitlab-Token")
	require.NotContains(t, err.Error(), "glwt-secret")
	require.Equal(t, []string{webhook.RedactedValue}, webhook.RedactHeaders(headers("X-Gitlab-Token", "glwt-secret"))["X-Gitlab-Token"])
}

func TestConfiguredSchemeNeverEchoesExpected(t *testing.T) {
	t.Parallel()
	s := source(t, registry(t, "WEBHOOK_SECRET_SHOP=hush", "WEBHOOK_SCHEME_SHOP=shopify"), "shop")
	body := `{"a":1}`
	_, err := s.Verify(webhook.Request{Header: headers("X-Shopify-Hmac-Sha256", hmacB64([]byte("wrong"), body)), Body: []byte(body)}, now)
	require.Error(t, err)
	require.NotContains(t, err.Error(), hmacB64([]byte("hush"), body))
	require.NotContains(t, err.Error(), "hush")
}

// Form bodies without GitHub's payload= become a JSON object of their
// fields; Slack's interactive payload= still carries the JSON.
func TestConfiguredSchemePayload(t *testing.T) {
	t.Parallel()
	reg := registry(t,
		"WEBHOOK_SECRET_SLACK=s", "WEBHOOK_SCHEME_SLACK=slack",
		"WEBHOOK_SECRET_TWILIO=tok", "WEBHOOK_SCHEME_TWILIO=twilio",
	)
	ts := strconv.FormatInt(now.Unix(), 10)
	slack := func(t *testing.T, ct, body string) (webhook.Delivery, error) {
		t.Helper()
		h := headers("Content-Type", ct, "X-Slack-Request-Timestamp", ts, "X-Slack-Signature", "v0="+hmacHex("s", "v0:"+ts+":"+body))
		v, err := source(t, reg, "slack").Verify(webhook.Request{Header: h, Body: []byte(body)}, now)
		require.NoError(t, err)
		enc, _ := webhook.EncodingOf(ct)
		return webhook.ParsePayload(v, h, enc, []byte(body))
	}

	t.Run("slack interactive payload", func(t *testing.T) {
		t.Parallel()
		d, err := slack(t, "application/x-www-form-urlencoded", "payload=%7B%22type%22%3A%22block_actions%22%2C%22trigger_id%22%3A%22t1%22%7D")
		require.NoError(t, err)
		require.Equal(t, "block_actions", d.Event)
		require.Equal(t, "t1", d.DeliveryID)
		require.JSONEq(t, `{"type":"block_actions","trigger_id":"t1"}`, string(d.Payload))
	})
	t.Run("slack events api", func(t *testing.T) {
		t.Parallel()
		d, err := slack(t, "application/json", `{"type":"event_callback","event_id":"Ev1","event":{"type":"app_mention"}}`)
		require.NoError(t, err)
		require.Equal(t, "app_mention", d.Event)
		require.Equal(t, "Ev1", d.DeliveryID)
	})
	t.Run("slack url verification", func(t *testing.T) {
		t.Parallel()
		d, err := slack(t, "application/json", `{"type":"url_verification","challenge":"c"}`)
		require.NoError(t, err)
		require.Equal(t, "url_verification", d.Event)
		require.Empty(t, d.DeliveryID)
	})
	t.Run("slack form with repeated fields", func(t *testing.T) {
		t.Parallel()
		d, err := slack(t, "application/x-www-form-urlencoded", "command=%2Fdeploy&tag=a&tag=b&trigger_id=t2")
		require.NoError(t, err)
		require.Equal(t, "/deploy", d.Event)
		require.JSONEq(t, `{"command":"/deploy","tag":["a","b"],"trigger_id":"t2"}`, string(d.Payload))
	})
	t.Run("slack form that is not utf-8", func(t *testing.T) {
		t.Parallel()
		_, err := slack(t, "application/x-www-form-urlencoded", "command=%2Fx&text=%FF")
		require.ErrorIs(t, err, webhook.ErrInvalidPayload)
	})
	t.Run("slack no event anywhere", func(t *testing.T) {
		t.Parallel()
		_, err := slack(t, "application/json", `{"team":"T1"}`)
		require.ErrorIs(t, err, webhook.ErrMissingEvent)
		require.ErrorContains(t, err, `"event.type" in the payload`)
	})
}

// A Twilio messaging status callback (field names from Twilio's
// "Track the message status of outbound messages"), signed as Twilio
// signs: its event is the status, its delivery id the idempotency header.
func TestTwilioStatusCallback(t *testing.T) {
	t.Parallel()
	s := source(t, registry(t, "WEBHOOK_SECRET_TWILIO=tok", "WEBHOOK_SCHEME_TWILIO=twilio"), "twilio")
	u := "https://example.com/api/webhooks/twilio"
	body := "MessageSid=SM1&MessageStatus=delivered&SmsStatus=delivered&To=%2B15558675310"
	h := headers(
		"Content-Type", "application/x-www-form-urlencoded",
		"I-Twilio-Idempotency-Token", "idem-1",
		"X-Twilio-Signature", hmacSHA1B64("tok", u+"MessageSidSM1MessageStatusdeliveredSmsStatusdeliveredTo+15558675310"),
	)
	v, err := s.Verify(webhook.Request{Header: h, Body: []byte(body), URL: u}, now)
	require.NoError(t, err)
	d, err := webhook.ParsePayload(v, h, webhook.EncodingForm, []byte(body))
	require.NoError(t, err)
	require.Equal(t, "delivered", d.Event)
	require.Equal(t, "idem-1", d.DeliveryID)
	require.JSONEq(t, `{"MessageSid":"SM1","MessageStatus":"delivered","SmsStatus":"delivered","To":"+15558675310"}`, string(d.Payload))
}

func TestPresets(t *testing.T) {
	t.Parallel()
	require.Equal(t, []string{"github", "gitlab", "linear", "paddle", "shopify", "slack", "twilio"}, webhook.PresetNames())
	for _, name := range webhook.PresetNames() {
		s, err := webhook.ParseSchemeSpec(name)
		require.NoError(t, err, name)
		require.Equal(t, webhook.Scheme(name), s.Name())
		again, err := webhook.ParseSchemeSpec(s.String())
		require.NoError(t, err, s.String())
		require.Equal(t, s, again, "String round trips")
		require.Equal(t, []string{webhook.RedactedValue}, webhook.RedactHeaders(headers(s.Header(), "x"))[s.Header()], "%s's header is redacted", name)
	}
	s, err := webhook.ParseSchemeSpec(" Slack ; tolerance=30s ")
	require.NoError(t, err)
	require.Equal(t, webhook.SchemeSlack, s.Name())
	require.Contains(t, s.String(), ";tolerance=30s;")
}

func TestSchemeConfigErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ value, problem string }{
		{"shopfy", `unknown preset "shopfy"`},
		{"header=X-Signature;algorithm=md5", `algorithm "md5"`},
		{"header=X-Signature;encoding=base32", `encoding "base32"`},
		{"algorithm=sha256", "header is missing"},
		{"header=X Signature", "not a header name"},
		{"header=X-Acme-Digest", "stored unredacted"},
		{"header=X-Signature;;algorithm=sha1", "empty setting"},
		{"header=X-Signature;algorithm=sha1;algorithm=sha256", "algorithm is set twice"},
		{"header=X-Signature;prefix=", "prefix is empty"},
		{"header=X-Signature;colour=blue", `unknown setting "colour"`},
		{"header=X-Signature;shopify", "only the first item may name a preset"},
		{"header=X-Signature;signed={timestamp}", "{body} or {form}"},
		{"header=X-Signature;signed={body", "{ without }"},
		{"header=X-Signature;signed={headers}", `unknown "{headers}"`},
		{"header=X-Signature;signed={timestamp}.{body}", "timestamp is not set"},
		{"header=X-Signature;timestamp=header:X-Timestamp", "is not signed"},
		{"header=X-Signature;timestamp=cookie:ts;signed={timestamp}{body}", `not header:<name>, item:<name>, json:<name>`},
		{"header=X-Signature;tolerance=5m", "need timestamp"},
		{"header=X-Signature;timestamp=header:X-T;signed={timestamp}{body};tolerance=forever", `tolerance "forever"`},
		{"header=X-Signature;timestamp=header:X-T;signed={timestamp}{body};tolerance=500ms", "between 1s and 24h"},
		{"header=X-Signature;timestamp=header:X-T;signed={timestamp}{body};timestamp-unit=us", `timestamp-unit "us"`},
		{"header=X-Signature;items=comma", "items needs prefix"},
		{"header=X-Signature;items=tab;prefix=v1=", `items "tab"`},
		{"header=X-Signature;prefix=v1=;timestamp=item:t;signed={timestamp}{body}", "needs items"},
		{"header=X-Signature;items=comma;prefix=t;timestamp=item:t;signed={timestamp}.{body}", "overlap"},
		{"header=X-Signature;timestamp=json:ts;signed={timestamp}.{body}", "drop {timestamp}"},
		{"header=X-Signature;event=json:a..b", "not a JSON field path"},
		{"header=X-Signature;id=item:x", `not header:<name>, json:<name>`},
		{"gitlab;prefix=x", "prefix does not apply"},
		{"slack;algorithm=token", "does not apply"},
		{"shopify;tolerance=1m", "need timestamp"},
	} {
		_, err := webhook.NewRegistry(env.Parse([]string{"WEBHOOK_SECRET_ACME=s", "WEBHOOK_SCHEME_ACME=" + tc.value}), webhook.Options{})
		var ce *env.Error
		require.True(t, errors.As(err, &ce), "%s: %v", tc.value, err)
		require.Equal(t, "WEBHOOK_SCHEME_ACME", ce.Var, tc.value)
		require.Contains(t, ce.Problem, tc.problem, tc.value)
		require.NotContains(t, err.Error(), "\n")
	}

	// A scheme needs a source with a secret; the message says which
	// variable enables it.
	for _, tc := range []struct {
		environ             []string
		variable, secretVar string
	}{
		{[]string{"WEBHOOK_SCHEME_SHOPIFY=shopify"}, "WEBHOOK_SCHEME_SHOPIFY", "WEBHOOK_SECRET_SHOPIFY"},
		{[]string{"WEBHOOK_SCHEME_STRIPE=github"}, "WEBHOOK_SCHEME_STRIPE", "STRIPE_WEBHOOK_SECRET"},
		{[]string{"WEBHOOK_SCHEME_BAD.NAME=github"}, "WEBHOOK_SCHEME_BAD.NAME", "source name"},
	} {
		_, err := webhook.NewRegistry(env.Parse(tc.environ), webhook.Options{})
		var ce *env.Error
		require.True(t, errors.As(err, &ce), "%v", tc.environ)
		require.Equal(t, tc.variable, ce.Var)
		require.Contains(t, ce.Problem, tc.secretVar)
	}

	// Empty counts as unset, as for secrets.
	r, err := webhook.NewRegistry(env.Parse([]string{"WEBHOOK_SECRET_ACME=s", "WEBHOOK_SCHEME_ACME= "}), webhook.Options{})
	require.NoError(t, err)
	body := `{"event":"e"}`
	_, err = source(t, r, "acme").Verify(webhook.Request{Header: headers("X-Webhook-Signature", hmacHex("s", body)), Body: []byte(body)}, now)
	require.NoError(t, err, "a source without a scheme keeps the generic one")
}

func TestRequestURL(t *testing.T) {
	t.Parallel()
	proxy := netip.MustParsePrefix("10.0.0.0/8")
	trusted := func(a netip.Addr) bool { return proxy.Contains(a) }
	req := func(remote string, tlsOn bool, kv ...string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "http://bespin.internal:3002/api/webhooks/twilio?x=%2F1&y=2", nil)
		r.RemoteAddr = remote
		if tlsOn {
			r.TLS = &tls.ConnectionState{}
		}
		for i := 0; i < len(kv); i += 2 {
			r.Header.Set(kv[i], kv[i+1])
		}
		return r
	}
	fwd := []string{"X-Forwarded-Proto", "https", "X-Forwarded-Host", "hooks.example.com"}
	for _, tc := range []struct {
		name string
		r    *http.Request
		want string
	}{
		{"direct", req("203.0.113.9:5000", false), "http://bespin.internal:3002/api/webhooks/twilio?x=%2F1&y=2"},
		{"direct tls", req("203.0.113.9:5000", true), "https://bespin.internal:3002/api/webhooks/twilio?x=%2F1&y=2"},
		{"forwarded by a stranger is ignored", req("203.0.113.9:5000", false, fwd...), "http://bespin.internal:3002/api/webhooks/twilio?x=%2F1&y=2"},
		{"forwarded by a trusted proxy", req("10.1.2.3:5000", false, fwd...), "https://hooks.example.com/api/webhooks/twilio?x=%2F1&y=2"},
		{"first hop wins", req("10.1.2.3:5000", false, "X-Forwarded-Proto", "https, http", "X-Forwarded-Host", "a.example, b.example"), "https://a.example/api/webhooks/twilio?x=%2F1&y=2"},
		{"junk forwarded values", req("10.1.2.3:5000", false, "X-Forwarded-Proto", "gopher", "X-Forwarded-Host", "evil/x"), "http://bespin.internal:3002/api/webhooks/twilio?x=%2F1&y=2"},
	} {
		require.Equal(t, tc.want, webhook.RequestURL(tc.r, trusted), tc.name)
	}
	require.Equal(t, "http://bespin.internal:3002/api/webhooks/twilio?x=%2F1&y=2", webhook.RequestURL(req("10.1.2.3:5000", false, fwd...), nil))
}
