package webhook_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bespin/bespin/internal/env"
	"github.com/bespin/bespin/webhook"
)

// Every parser of a sender-controlled header must return an error, never
// panic, and what it accepts must mean what was sent: formatting a parsed
// value and parsing it again gives the same value, and a value formatted
// from known bytes parses back to those bytes. Verification must accept a
// signature made with a configured secret and refuse any change of the
// body, the timestamp or the signature. Run one with, for example:
//
//	go test ./webhook -run '^$' -fuzz '^FuzzVerify$' -fuzztime 10s

// sum32 turns fuzzer bytes into a 32-byte value (an HMAC-SHA256's size).
func sum32(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

func FuzzParseHexSignature(f *testing.F) {
	f.Add("sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", true, []byte("x"))
	f.Add("zz", false, []byte{})
	f.Add(" SHA256=757107EA0EB2509FC211221CCE984B8A37570B6D7586C22C46F4379C8B043E17 ", false, []byte{1})
	f.Fuzz(func(t *testing.T, v string, requirePrefix bool, raw []byte) {
		if sig, err := webhook.ParseHexSignature(v, requirePrefix); err == nil {
			// What was accepted is exactly the hex that was sent.
			rest, prefixed := strings.CutPrefix(strings.TrimSpace(v), "sha256=")
			require.True(t, prefixed || !requirePrefix, "accepted %q without its required prefix", v)
			require.Equal(t, strings.ToLower(rest), hex.EncodeToString(sig))
		}
		// format → parse round trips; the prefix is required when asked.
		want := sum32(raw)
		got, err := webhook.ParseHexSignature("sha256="+hex.EncodeToString(want), true)
		require.NoError(t, err)
		require.Equal(t, want, got)
		got, err = webhook.ParseHexSignature(strings.ToUpper(hex.EncodeToString(want)), false)
		require.NoError(t, err)
		require.Equal(t, want, got)
		_, err = webhook.ParseHexSignature(hex.EncodeToString(want), true)
		require.Error(t, err)
	})
}

func formatStripe(s webhook.StripeSignature) string {
	items := []string{"t=" + s.RawTime}
	for _, v := range s.V1 {
		items = append(items, "v1="+hex.EncodeToString(v))
	}
	return strings.Join(items, ",")
}

func FuzzParseStripeSignature(f *testing.F) {
	f.Add("t=1614265330,v1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17,v0=x", uint32(1614265330), []byte("a"), 2)
	f.Add("t=,v1=", uint32(0), []byte{}, 0)
	f.Add(",,,=", uint32(7), []byte{0}, 1)
	f.Fuzz(func(t *testing.T, v string, ts uint32, raw []byte, n int) {
		if s, err := webhook.ParseStripeSignature(v); err == nil {
			require.NotEmpty(t, s.V1)
			tm, err := webhook.ParseTimestamp(s.RawTime)
			require.NoError(t, err)
			require.Equal(t, tm, s.Time)
			for _, sig := range s.V1 {
				require.Len(t, sig, 32)
			}
			again, err := webhook.ParseStripeSignature(formatStripe(s))
			require.NoError(t, err)
			require.Equal(t, s, again)
		}
		// Built from known parts, with a v0 Stripe ignores.
		want := webhook.StripeSignature{RawTime: strconv.FormatUint(uint64(ts), 10), Time: time.Unix(int64(ts), 0)}
		for i := 0; i <= ((n%4)+4)%4; i++ {
			want.V1 = append(want.V1, sum32(append(raw, byte(i))))
		}
		got, err := webhook.ParseStripeSignature(formatStripe(want) + ",v0=ignored")
		require.NoError(t, err)
		require.Equal(t, want, got)
	})
}

func FuzzParseStandardSignature(f *testing.F) {
	f.Add("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= v1a,xyz", []byte("a"), 1)
	f.Add("v1,", []byte{}, 0)
	f.Fuzz(func(t *testing.T, v string, raw []byte, n int) {
		format := func(sigs [][]byte) string {
			items := []string{"v1a,asymmetric-ignored"}
			for _, s := range sigs {
				items = append(items, "v1,"+base64.StdEncoding.EncodeToString(s))
			}
			return strings.Join(items, " ")
		}
		if sigs, err := webhook.ParseStandardSignature(v); err == nil {
			require.NotEmpty(t, sigs)
			for _, s := range sigs {
				require.Len(t, s, 32)
			}
			again, err := webhook.ParseStandardSignature(format(sigs))
			require.NoError(t, err)
			require.Equal(t, sigs, again)
		}
		var want [][]byte
		for i := 0; i <= ((n%4)+4)%4; i++ {
			want = append(want, sum32(append(raw, byte(i))))
		}
		got, err := webhook.ParseStandardSignature(format(want))
		require.NoError(t, err)
		require.Equal(t, want, got)
	})
}

func FuzzParseSendGridSignature(f *testing.F) {
	f.Add("MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH2j/0=", []byte{0x30})
	f.Add("%%", []byte{})
	f.Fuzz(func(t *testing.T, v string, raw []byte) {
		if sig, err := webhook.ParseSendGridSignature(v); err == nil {
			require.NotEmpty(t, sig)
			require.LessOrEqual(t, len(sig), 256)
			again, err := webhook.ParseSendGridSignature(base64.StdEncoding.EncodeToString(sig))
			require.NoError(t, err)
			require.Equal(t, sig, again)
		}
		got, err := webhook.ParseSendGridSignature(" " + base64.StdEncoding.EncodeToString(raw) + "\n")
		if len(raw) == 0 || len(raw) > 256 {
			require.Error(t, err)
			return
		}
		require.NoError(t, err)
		require.Equal(t, raw, got)
	})
}

func FuzzParseTimestamp(f *testing.F) {
	f.Add("1614265330", int64(1614265330))
	f.Add("-1", int64(-1))
	f.Add("999999999999", int64(999999999999))
	f.Add("+5", int64(5))
	f.Fuzz(func(t *testing.T, v string, n int64) {
		if ts, err := webhook.ParseTimestamp(v); err == nil {
			// Digits only, and exactly the seconds written.
			require.LessOrEqual(t, len(v), 12)
			require.Equal(t, -1, strings.IndexFunc(v, func(r rune) bool { return r < '0' || r > '9' }), v)
			digits := strings.TrimLeft(v, "0")
			if digits == "" {
				digits = "0"
			}
			require.Equal(t, digits, strconv.FormatInt(ts.Unix(), 10))
		}
		if n < 0 {
			_, err := webhook.ParseTimestamp(strconv.FormatInt(n, 10))
			require.Error(t, err, "signed timestamps are refused")
			n = -(n + 1)
		}
		n %= 1_000_000_000_000
		ts, err := webhook.ParseTimestamp(strconv.FormatInt(n, 10))
		require.NoError(t, err)
		require.Equal(t, time.Unix(n, 0), ts)
		_, err = webhook.ParseTimestamp("+" + strconv.FormatInt(n, 10))
		require.Error(t, err)
	})
}

// flipped returns b with one byte changed (at i modulo its length).
func flipped(b []byte, i uint16) []byte {
	out := bytes.Clone(b)
	if len(out) == 0 {
		return []byte{0}
	}
	out[int(i)%len(out)] ^= byte(i>>8) | 1
	return out
}

// fuzzVerifyFixture is FuzzVerify's registry and what the test knows of
// its secrets, to sign deliveries itself.
type fuzzVerifyFixture struct {
	reg     *webhook.Registry
	sg      *ecdsa.PrivateKey
	hmacs   map[string][]string // source → HMAC secrets
	stdKeys map[string][][]byte // source → Standard Webhooks keys
}

func newFuzzVerifyFixture(f *testing.F) fuzzVerifyFixture {
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
	std, _ := base64.StdEncoding.DecodeString("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	return fuzzVerifyFixture{
		reg: reg, sg: priv,
		hmacs:   map[string][]string{"acme": {"acme", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, "test": {webhook.DefaultTestSecret}},
		stdKeys: map[string][][]byte{"acme": {[]byte("acme"), std}, "test": {[]byte(webhook.DefaultTestSecret)}},
	}
}

// genuine reports whether a delivery's signature header holds a signature
// the test itself computes from the source's secrets: the only way
// Verify may accept it.
func (fx fuzzVerifyFixture) genuine(source string, scheme webhook.Scheme, h http.Header, body []byte) bool {
	compact := func(name string) string { return strings.Join(strings.Fields(h.Get(name)), "") }
	switch scheme {
	case webhook.SchemeGeneric, webhook.SchemeGitHub:
		name := map[webhook.Scheme]string{webhook.SchemeGeneric: webhook.HeaderGeneric, webhook.SchemeGitHub: webhook.HeaderGitHub}[scheme]
		for _, sec := range fx.hmacs[source] {
			if strings.Contains(strings.ToLower(compact(name)), hmacHex(sec, string(body))) {
				return true
			}
		}
	case webhook.SchemeStripe:
		for _, item := range strings.Split(h.Get(webhook.HeaderStripe), ",") {
			if ts, ok := strings.CutPrefix(strings.TrimSpace(item), "t="); ok {
				for _, sec := range fx.hmacs[source] {
					if strings.Contains(strings.ToLower(compact(webhook.HeaderStripe)), "v1="+hmacHex(sec, ts+"."+string(body))) {
						return true
					}
				}
			}
		}
	case webhook.SchemeStandard:
		content := h.Get(webhook.HeaderStandardID) + "." + h.Get(webhook.HeaderStandardTime) + "." + string(body)
		for _, k := range fx.stdKeys[source] {
			for _, item := range strings.Fields(h.Get(webhook.HeaderStandard)) {
				if item == "v1,"+hmacB64(k, content) {
					return true
				}
			}
		}
	case webhook.SchemeSendGrid:
		sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(h.Get(webhook.HeaderSendGrid)))
		d := sha256.Sum256(append([]byte(h.Get(webhook.HeaderSendGridTime)), body...))
		return err == nil && ecdsa.VerifyASN1(&fx.sg.PublicKey, d[:], sig)
	}
	return false
}

// signed is a delivery signed by the test for one scheme, and the ways to
// change it that must each be refused.
type signed struct {
	source  string
	scheme  webhook.Scheme
	header  http.Header
	body    []byte
	changes map[string]http.Header // header variants: signature, timestamp or id changed
}

func (fx fuzzVerifyFixture) sign(t *testing.T, body []byte, at time.Time, flip uint16) []signed {
	ts := strconv.FormatInt(at.Unix(), 10)
	ts2 := strconv.FormatInt(at.Unix()+1, 10)
	macHex := func(sec, content string) string { return hmacHex(sec, content) }
	flipHex := func(v string) string { b, _ := hex.DecodeString(v); return hex.EncodeToString(flipped(b, flip)) }
	flipB64 := func(v string) string {
		b, _ := base64.StdEncoding.DecodeString(v)
		return base64.StdEncoding.EncodeToString(flipped(b, flip))
	}
	b := string(body)
	sec := fx.hmacs["acme"][flip%2]
	key := fx.stdKeys["acme"][flip%2]

	generic := macHex(sec, b)
	github := macHex(sec, b)
	stripe := macHex(sec, ts+"."+b)
	std := hmacB64(key, "msg_1."+ts+"."+b)
	d := sha256.Sum256(append([]byte(ts), body...))
	der, err := ecdsa.SignASN1(rand.Reader, fx.sg, d[:])
	require.NoError(t, err)
	sg := base64.StdEncoding.EncodeToString(der)

	return []signed{
		{"acme", webhook.SchemeGeneric, headers(webhook.HeaderGeneric, generic), body, map[string]http.Header{
			"signature": headers(webhook.HeaderGeneric, flipHex(generic)),
		}},
		{"acme", webhook.SchemeGitHub, headers(webhook.HeaderGitHub, "sha256="+github), body, map[string]http.Header{
			"signature": headers(webhook.HeaderGitHub, "sha256="+flipHex(github)),
		}},
		{"acme", webhook.SchemeStripe, headers(webhook.HeaderStripe, "t="+ts+",v1="+stripe), body, map[string]http.Header{
			"signature": headers(webhook.HeaderStripe, "t="+ts+",v1="+flipHex(stripe)),
			"timestamp": headers(webhook.HeaderStripe, "t="+ts2+",v1="+stripe),
		}},
		{"acme", webhook.SchemeStandard, headers(webhook.HeaderStandardID, "msg_1", webhook.HeaderStandardTime, ts, webhook.HeaderStandard, "v1,"+std), body, map[string]http.Header{
			"signature": headers(webhook.HeaderStandardID, "msg_1", webhook.HeaderStandardTime, ts, webhook.HeaderStandard, "v1,"+flipB64(std)),
			"timestamp": headers(webhook.HeaderStandardID, "msg_1", webhook.HeaderStandardTime, ts2, webhook.HeaderStandard, "v1,"+std),
			"id":        headers(webhook.HeaderStandardID, "msg_2", webhook.HeaderStandardTime, ts, webhook.HeaderStandard, "v1,"+std),
		}},
		{"sendgrid", webhook.SchemeSendGrid, headers(webhook.HeaderSendGrid, sg, webhook.HeaderSendGridTime, ts), body, map[string]http.Header{
			"signature": headers(webhook.HeaderSendGrid, flipB64(sg), webhook.HeaderSendGridTime, ts),
			"timestamp": headers(webhook.HeaderSendGrid, sg, webhook.HeaderSendGridTime, ts2),
		}},
	}
}

// FuzzVerify drives every built-in scheme's header handling, then payload
// parsing, with arbitrary headers and bodies: Verify accepts only a
// signature the test can compute from the secrets (no forgery), accepts
// every such signature, and refuses it once the body, the signature, the
// signed timestamp or the signed id changes.
func FuzzVerify(f *testing.F) {
	fx := newFuzzVerifyFixture(f)
	f.Add(0, "sha256=00", "", "", []byte(`{"event":"x"}`), uint16(0))
	f.Add(1, "t=1614265330,v1=00", "", "", []byte(`{}`), uint16(1))
	f.Add(2, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", []byte(`{"test": 2432232314}`), uint16(258))
	f.Add(3, "MEUCIQ==", "", "1614265330", []byte(`[{"event":"open"}]`), uint16(3))
	f.Add(4, "sha256="+hmacHex("acme", "Hello"), "", "", []byte("Hello"), uint16(0xffff))
	at := time.Unix(1614265330, 0)
	f.Fuzz(func(t *testing.T, which int, sig, id, ts string, body []byte, flip uint16) {
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
			s, _ := fx.reg.Source(name)
			v, err := s.Verify(webhook.Request{Header: h, Body: body}, at)
			if err != nil {
				var we *webhook.Error
				require.True(t, errors.As(err, &we) && errors.Is(err, webhook.ErrUnauthorized) && we.Message != "", "%v", err)
				continue
			}
			require.True(t, fx.genuine(name, v.Scheme, h, body), "%s accepted a %s signature the secrets did not make", name, v.Scheme)
			_, _ = webhook.ParsePayload(v, h, webhook.EncodingJSON, body)
			_, _ = webhook.ParsePayload(v, h, webhook.EncodingForm, body)
		}

		// Deliveries the test signs: accepted, and refused once changed.
		for _, d := range fx.sign(t, body, at, flip) {
			s, _ := fx.reg.Source(d.source)
			v, err := s.Verify(webhook.Request{Header: d.header, Body: d.body}, at)
			require.NoError(t, err, "%s", d.scheme)
			require.Equal(t, d.scheme, v.Scheme)
			_, err = s.Verify(webhook.Request{Header: d.header, Body: flipped(d.body, flip)}, at)
			require.ErrorIs(t, err, webhook.ErrUnauthorized, "%s accepted a changed body", d.scheme)
			_, err = s.Verify(webhook.Request{Header: d.header, Body: append(bytes.Clone(d.body), 'x')}, at)
			require.ErrorIs(t, err, webhook.ErrUnauthorized, "%s accepted a longer body", d.scheme)
			for what, h := range d.changes {
				_, err = s.Verify(webhook.Request{Header: h, Body: d.body}, at)
				require.ErrorIs(t, err, webhook.ErrUnauthorized, "%s accepted a changed %s", d.scheme, what)
			}
		}
	})
}

// FuzzParseSchemeSpec: any spec that parses writes itself back in a form
// that parses to the same spec (parse ∘ format is the identity).
func FuzzParseSchemeSpec(f *testing.F) {
	for _, p := range webhook.PresetNames() {
		f.Add(p)
		s, _ := webhook.ParseSchemeSpec(p)
		f.Add(s.String())
	}
	f.Add("slack;tolerance=90s;id=header:X-Slack-Retry-Num")
	f.Add("header=X-Signature;algorithm=sha512;encoding=base64;prefix=v1=;items=comma;timestamp=item:t;signed={timestamp}.{body}")
	f.Add("header=x-token;algorithm=TOKEN;event=json:a.b.c")
	f.Fuzz(func(t *testing.T, v string) {
		s, err := webhook.ParseSchemeSpec(v)
		if err != nil {
			require.NotContains(t, err.Error(), "\n")
			return
		}
		again, err := webhook.ParseSchemeSpec(s.String())
		require.NoError(t, err, "%q formats as %q", v, s.String())
		require.Equal(t, s, again)
		require.Equal(t, s.String(), again.String())
	})
}

var fuzzHashes = []struct {
	name string
	new  func() hash.Hash
}{{"sha1", sha1.New}, {"sha256", sha256.New}, {"sha512", sha512.New}}

// safePrefix keeps what a prefix may hold: printable ASCII, no semicolon.
func safePrefix(p string) string {
	var b strings.Builder
	for i := 0; i < len(p) && b.Len() < 32; i++ {
		if c := p[i]; c > 0x20 && c < 0x7f && c != ';' {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// FuzzConfiguredScheme signs deliveries the way a random custom spec says
// (algorithm, encoding, prefix, timestamp in a header or a signature item,
// in seconds or milliseconds, URL or not), with one secret of a rotating
// pair, independently of the code under test: the delivery verifies, and
// any change of a body byte, a signature byte or the timestamp is refused,
// as is a timestamp outside the tolerance.
func FuzzConfiguredScheme(f *testing.F) {
	f.Add("s3cret", []byte(`{"event":"ping"}`), uint8(1), uint8(0), "sha256=", uint8(0), uint32(1_800_000_000), uint16(0))
	f.Add("k", []byte{}, uint8(0), uint8(1), "", uint8(1), uint32(1), uint16(7))
	f.Add("pdl_ntfset_x", []byte("a=b&c=d"), uint8(2), uint8(0), "h1=", uint8(2), uint32(1671552777), uint16(513))
	f.Add("k2", []byte("x"), uint8(1), uint8(1), "v0=", uint8(3), uint32(1531420618), uint16(9))
	f.Add("k3", []byte("{}"), uint8(1), uint8(0), "", uint8(4), uint32(1531420618), uint16(9))
	f.Fuzz(func(t *testing.T, secret string, body []byte, alg, encoding uint8, prefix string, mode uint8, unix uint32, flip uint16) {
		secret = strings.TrimSpace(strings.ReplaceAll(secret, ",", ""))
		if secret == "" || strings.ContainsAny(secret, "\x00\n") {
			secret = "k"
		}
		hf := fuzzHashes[int(alg)%len(fuzzHashes)]
		enc := []string{"hex", "base64"}[int(encoding)%2]
		prefix = safePrefix(prefix)
		at := time.Unix(int64(unix), 0)
		ts := strconv.FormatInt(at.Unix(), 10)
		const u = "https://example.com/api/webhooks/fuzz"

		spec := "header=X-Fuzz-Signature;algorithm=" + hf.name + ";encoding=" + enc
		var content, moved func(ts string) string // signed content; header value with another timestamp
		sigHeader := func(sig string) string { return prefix + sig }
		switch mode % 5 {
		case 0: // the body alone
			content = func(string) string { return string(body) }
		case 1: // a timestamp header, seconds
			spec += ";signed={timestamp}.{body};timestamp=header:X-Fuzz-Timestamp;tolerance=5m"
			content = func(ts string) string { return ts + "." + string(body) }
		case 2: // the timestamp as an item of the signature header
			prefix = safePrefix("h1=" + prefix)
			spec += ";items=semicolon;signed={timestamp}:{body};timestamp=item:ts;tolerance=5m"
			content = func(ts string) string { return ts + ":" + string(body) }
			sigHeader = func(sig string) string { return "ts=" + ts + ";" + prefix + sig }
			moved = func(ts2 string) string { return "ts=" + ts2 + ";" }
		case 3: // milliseconds
			ts = strconv.FormatInt(at.UnixMilli(), 10)
			spec += ";signed=v0:{timestamp}:{body};timestamp=header:X-Fuzz-Timestamp;timestamp-unit=ms;tolerance=5m"
			content = func(ts string) string { return "v0:" + ts + ":" + string(body) }
		case 4: // the URL too
			spec += ";signed={url}{body}"
			content = func(string) string { return u + string(body) }
		}
		if prefix != "" {
			spec += ";prefix=" + prefix
		}
		reg, err := webhook.NewRegistry(env.Parse([]string{"WEBHOOK_SECRET_FUZZ=decoy-" + secret + "," + secret, "WEBHOOK_SCHEME_FUZZ=" + spec}), webhook.Options{})
		require.NoError(t, err, spec)
		s, _ := reg.Source("fuzz")

		mac := func(ts string) []byte {
			m := hmac.New(hf.new, []byte(secret))
			m.Write([]byte(content(ts)))
			return m.Sum(nil)
		}
		encode := func(b []byte) string {
			if enc == "hex" {
				return hex.EncodeToString(b)
			}
			return base64.StdEncoding.EncodeToString(b)
		}
		request := func(sig, ts string, b []byte) webhook.Request {
			h := headers("X-Fuzz-Signature", sigHeader(sig))
			if mode%5 == 1 || mode%5 == 3 {
				h.Set("X-Fuzz-Timestamp", ts)
			}
			if moved != nil && ts != "" {
				h.Set("X-Fuzz-Signature", strings.Replace(h.Get("X-Fuzz-Signature"), "ts="+strconv.FormatInt(at.Unix(), 10)+";", moved(ts), 1))
			}
			return webhook.Request{Header: h, Body: b, URL: u}
		}

		good := mac(ts)
		v, err := s.Verify(request(encode(good), ts, body), at)
		require.NoError(t, err, spec)
		require.Equal(t, webhook.SchemeCustom, v.Scheme)

		refused := func(what string, req webhook.Request, at time.Time) {
			t.Helper()
			_, err := s.Verify(req, at)
			require.ErrorIs(t, err, webhook.ErrUnauthorized, "%s accepted a changed %s", spec, what)
		}
		refused("signature", request(encode(flipped(good, flip)), ts, body), at)
		if len(body) > 0 {
			refused("body", request(encode(good), ts, flipped(body, flip)), at)
		}
		refused("body", request(encode(good), ts, append(bytes.Clone(body), 'x')), at)
		if mode%5 == 1 || mode%5 == 2 || mode%5 == 3 {
			other := strconv.FormatInt(at.Unix()+1, 10)
			if mode%5 == 3 {
				other = strconv.FormatInt(at.UnixMilli()+1, 10)
			}
			refused("timestamp", request(encode(good), other, body), at)
			refused("time (stale)", request(encode(good), ts, body), at.Add(5*time.Minute+time.Second))
			refused("time (future)", request(encode(good), ts, body), at.Add(-5*time.Minute-time.Second))
		}
		if mode%5 == 4 {
			refused("URL", webhook.Request{Header: request(encode(good), ts, body).Header, Body: body, URL: u + "/x"}, at)
		}
	})
}
