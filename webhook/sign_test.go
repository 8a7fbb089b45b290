package webhook_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bespin/bespin/webhook"
)

// The signer reproduces the two published vectors, so it is right on its
// own and not only in agreement with Verify.
func TestSignPublishedVectors(t *testing.T) {
	t.Parallel()
	gh := source(t, registry(t, "GITHUB_WEBHOOK_SECRET=It's a Secret to Everybody"), "github")
	h, err := gh.Sign([]byte("Hello, World!"), webhook.SignOptions{Scheme: webhook.SchemeGitHub, Event: "ping"})
	require.NoError(t, err)
	require.Equal(t, "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", h.Get("X-Hub-Signature-256"))

	acme := source(t, registry(t, "WEBHOOK_SECRET_ACME=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), "acme")
	h, err = acme.Sign([]byte(`{"test": 2432232314}`), webhook.SignOptions{
		Scheme: webhook.SchemeStandard, ID: "msg_p5jXN8AQM9LWM0D4loKWxJek", Time: time.Unix(1614265330, 0),
	})
	require.NoError(t, err)
	require.Equal(t, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", h.Get("webhook-signature"))
	require.Equal(t, "1614265330", h.Get("webhook-timestamp"))
}

// Whatever Sign produces, Verify accepts, for every scheme, and
// ParsePayload finds the event and delivery id the options named.
func TestSignVerifies(t *testing.T) {
	t.Parallel()
	sg := newSendGridKey(t)
	reg := registry(t,
		"GITHUB_WEBHOOK_SECRET=gh-new,gh-old",
		"STRIPE_WEBHOOK_SECRET=whsec_stripe1",
		"SENDGRID_WEBHOOK_PUBLIC_KEY="+sg.b64,
		"WEBHOOK_SECRET_ACME=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
	)
	body := []byte(`{"event":"ping","type":"charge.succeeded","id":"evt_1"}`)
	for _, tc := range []struct {
		source    string
		opts      webhook.SignOptions
		body      []byte
		event, id string
	}{
		{"test", webhook.SignOptions{Scheme: webhook.SchemeGeneric, ID: "d-1"}, body, "ping", "d-1"},
		{"test", webhook.SignOptions{Scheme: webhook.SchemeGeneric, Event: "pong"}, body, "pong", ""},
		{"github", webhook.SignOptions{Scheme: webhook.SchemeGitHub, Event: "push", ID: "gh-1"}, body, "push", "gh-1"},
		{"stripe", webhook.SignOptions{Scheme: webhook.SchemeStripe}, body, "charge.succeeded", "evt_1"},
		{"acme", webhook.SignOptions{Scheme: webhook.SchemeStandard, ID: "msg_1"}, body, "charge.succeeded", "msg_1"},
		{"test", webhook.SignOptions{Scheme: webhook.SchemeStandard, ID: "msg_2"}, body, "charge.succeeded", "msg_2"},
		{"sendgrid", webhook.SignOptions{Scheme: webhook.SchemeSendGrid, Key: sg.priv}, []byte(`[{"event":"delivered","sg_event_id":"a"}]`), "delivered", ""},
	} {
		t.Run(tc.source+"/"+string(tc.opts.Scheme), func(t *testing.T) {
			t.Parallel()
			tc.opts.Time = now
			s := source(t, reg, tc.source)
			h, err := s.Sign(tc.body, tc.opts)
			require.NoError(t, err)
			v, err := s.Verify(webhook.Request{Header: h, Body: tc.body}, now)
			require.NoError(t, err)
			require.Equal(t, tc.opts.Scheme, v.Scheme)
			d, err := webhook.ParsePayload(v, h, webhook.EncodingJSON, tc.body)
			require.NoError(t, err)
			require.Equal(t, tc.event, d.Event)
			if tc.id != "" {
				require.Equal(t, tc.id, d.DeliveryID)
			}
		})
	}
}

func TestSignErrors(t *testing.T) {
	t.Parallel()
	sg := newSendGridKey(t)
	reg := registry(t, "SENDGRID_WEBHOOK_PUBLIC_KEY="+sg.b64)
	test := source(t, reg, "test")
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	for name, tc := range map[string]struct {
		s    *webhook.Source
		opts webhook.SignOptions
		want string
	}{
		"github without event":      {test, webhook.SignOptions{Scheme: webhook.SchemeGitHub}, "needs an event"},
		"standard without id":       {test, webhook.SignOptions{Scheme: webhook.SchemeStandard}, "needs an id"},
		"standard id with a dot":    {test, webhook.SignOptions{Scheme: webhook.SchemeStandard, ID: "a.b"}, "needs an id"},
		"sendgrid without key":      {test, webhook.SignOptions{Scheme: webhook.SchemeSendGrid}, "private key"},
		"unknown scheme":            {test, webhook.SignOptions{Scheme: "carrier-pigeon"}, "unknown scheme"},
		"hmac on a key-only source": {source(t, reg, "sendgrid"), webhook.SignOptions{Scheme: webhook.SchemeGeneric}, "no HMAC secret"},
	} {
		_, err := tc.s.Sign([]byte(`{}`), tc.opts)
		require.ErrorContains(t, err, tc.want, name)
	}

	// Signed with a key that is not the configured one: refused.
	s := source(t, reg, "sendgrid")
	h, err := s.Sign([]byte(`[]`), webhook.SignOptions{Scheme: webhook.SchemeSendGrid, Key: other, Time: now})
	require.NoError(t, err)
	_, err = s.Verify(webhook.Request{Header: h, Body: []byte(`[]`)}, now)
	require.ErrorIs(t, err, webhook.ErrUnauthorized)
}
