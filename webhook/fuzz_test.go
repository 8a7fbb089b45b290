package webhook_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"testing"
	"time"

	"github.com/bespin/bespin/internal/env"
	"github.com/bespin/bespin/webhook"
)

// Every parser of a sender-controlled header must return an error, never
// panic. Run one with, for example:
//
//	go test ./webhook -run '^$' -fuzz FuzzParseStripeSignature -fuzztime 20s

func FuzzParseHexSignature(f *testing.F) {
	f.Add("sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", true)
	f.Add("zz", false)
	f.Fuzz(func(t *testing.T, v string, prefix bool) {
		sig, err := webhook.ParseHexSignature(v, prefix)
		if err == nil && len(sig) != 32 {
			t.Fatalf("accepted %d bytes", len(sig))
		}
	})
}

func FuzzParseStripeSignature(f *testing.F) {
	f.Add("t=1614265330,v1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17,v0=x")
	f.Add("t=,v1=")
	f.Add(",,,=")
	f.Fuzz(func(t *testing.T, v string) {
		s, err := webhook.ParseStripeSignature(v)
		if err == nil && (len(s.V1) == 0 || s.RawTime == "") {
			t.Fatalf("accepted %q without t or v1", v)
		}
	})
}

func FuzzParseStandardSignature(f *testing.F) {
	f.Add("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= v1a,xyz")
	f.Add("v1,")
	f.Fuzz(func(t *testing.T, v string) {
		sigs, err := webhook.ParseStandardSignature(v)
		if err == nil && len(sigs) == 0 {
			t.Fatalf("accepted %q without a v1", v)
		}
	})
}

func FuzzParseSendGridSignature(f *testing.F) {
	f.Add("MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH2j/0=")
	f.Add("%%")
	f.Fuzz(func(t *testing.T, v string) {
		_, _ = webhook.ParseSendGridSignature(v)
	})
}

func FuzzParseTimestamp(f *testing.F) {
	f.Add("1614265330")
	f.Add("-1")
	f.Add("999999999999")
	f.Fuzz(func(t *testing.T, v string) {
		_, _ = webhook.ParseTimestamp(v)
	})
}

// FuzzVerify drives every scheme's whole header handling, then payload
// parsing, with arbitrary headers and bodies.
func FuzzVerify(f *testing.F) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		f.Fatal(err)
	}
	reg, err := webhook.NewRegistry(env.Parse([]string{
		"WEBHOOK_SECRET_ACME=acme,whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		"SENDGRID_WEBHOOK_PUBLIC_KEY=" + base64.StdEncoding.EncodeToString(der),
	}), webhook.Options{Development: true, Tolerance: time.Hour})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(0, "sha256=00", "", "", []byte(`{"event":"x"}`))
	f.Add(1, "t=1614265330,v1=00", "", "", []byte(`{}`))
	f.Add(2, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", []byte(`{"test": 2432232314}`))
	f.Add(3, "MEUCIQ==", "", "1614265330", []byte(`[{"event":"open"}]`))
	f.Fuzz(func(t *testing.T, which int, sig, id, ts string, body []byte) {
		h := http.Header{}
		switch ((which % 5) + 5) % 5 {
		case 0:
			h.Set(webhook.HeaderGeneric, sig)
		case 1:
			h.Set(webhook.HeaderStripe, sig)
		case 2:
			h.Set(webhook.HeaderStandard, sig)
			h.Set(webhook.HeaderStandardID, id)
			h.Set(webhook.HeaderStandardTime, ts)
		case 3:
			h.Set(webhook.HeaderSendGrid, sig)
			h.Set(webhook.HeaderSendGridTime, ts)
		case 4:
			h.Set(webhook.HeaderGitHub, sig)
		}
		h.Set(webhook.HeaderIdempotencyKey, id)
		for _, name := range []string{"acme", "sendgrid", "test"} {
			s, _ := reg.Source(name)
			v, err := s.Verify(webhook.Request{Header: h, Body: body}, time.Unix(1614265330, 0))
			if err != nil {
				continue
			}
			_, _ = webhook.ParsePayload(v, h, webhook.EncodingJSON, body)
			_, _ = webhook.ParsePayload(v, h, webhook.EncodingForm, body)
		}
		// Payload parsing on its own, as if the signature had matched.
		for _, scheme := range []webhook.Scheme{webhook.SchemeGeneric, webhook.SchemeGitHub, webhook.SchemeStripe, webhook.SchemeSendGrid, webhook.SchemeStandard} {
			_, _ = webhook.ParsePayload(webhook.Verification{Scheme: scheme, Event: ts, DeliveryID: id}, h, webhook.EncodingJSON, body)
		}
	})
}
