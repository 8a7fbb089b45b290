package webhook

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Header names of the schemes.
const (
	HeaderGeneric        = "X-Webhook-Signature"
	HeaderGenericEvent   = "X-Webhook-Event"
	HeaderGitHub         = "X-Hub-Signature-256"
	HeaderGitHubEvent    = "X-GitHub-Event"
	HeaderGitHubDelivery = "X-GitHub-Delivery"
	HeaderStripe         = "Stripe-Signature"
	HeaderSendGrid       = "X-Twilio-Email-Event-Webhook-Signature"
	HeaderSendGridTime   = "X-Twilio-Email-Event-Webhook-Timestamp"
	HeaderStandardID     = "Webhook-Id"
	HeaderStandardTime   = "Webhook-Timestamp"
	HeaderStandard       = "Webhook-Signature"
	HeaderIdempotencyKey = "Idempotency-Key"
	HeaderWebhookID      = "X-Webhook-Id"
)

// Request is what Verify looks at: the headers and the body exactly as
// received and, for schemes that sign it (Twilio's), the URL the sender
// posted to. URL may be empty when no source signs it; RequestURL
// reconstructs it from an *http.Request.
type Request struct {
	Header http.Header
	Body   []byte
	URL    string
}

// RequestURL is the URL a request was sent to, as the sender saw it:
// scheme, host and the request target byte for byte. Behind a reverse
// proxy the server sees its own scheme and maybe its own host, so
// X-Forwarded-Proto and X-Forwarded-Host are believed, but only when
// trustedPeer says the immediate peer (r.RemoteAddr) is a trusted proxy;
// the caller owns that decision (TRUSTED_PROXIES). trustedPeer may be nil.
func RequestURL(r *http.Request, trustedPeer func(netip.Addr) bool) string {
	scheme, host := "http", r.Host
	if r.TLS != nil {
		scheme = "https"
	}
	if peer, err := netip.ParseAddrPort(r.RemoteAddr); err == nil && trustedPeer != nil && trustedPeer(peer.Addr().Unmap()) {
		if p := strings.ToLower(firstForwarded(r.Header, "X-Forwarded-Proto")); p == "http" || p == "https" {
			scheme = p
		}
		if h := firstForwarded(r.Header, "X-Forwarded-Host"); h != "" && !strings.ContainsAny(h, "/?#@ ") {
			host = h
		}
	}
	target := r.RequestURI // as sent, escapes included
	if !strings.HasPrefix(target, "/") {
		target = r.URL.RequestURI() // absolute-form request line, or a request built in code
	}
	return scheme + "://" + host + target
}

// firstForwarded is the first hop's value of a proxy header: the one the
// client-facing proxy wrote.
func firstForwarded(h http.Header, name string) string {
	v, _, _ := strings.Cut(h.Get(name), ",")
	return strings.TrimSpace(v)
}

// Verification is what a good signature established.
type Verification struct {
	Scheme Scheme
	// Signature is the signature header as received; it is stored in the
	// receipt's signature column (and redacted from the stored headers).
	// For a shared-token scheme (GitLab) it is RedactedValue: the token is
	// the secret.
	Signature string
	// DeliveryID and Event come from the scheme's headers when it has them
	// (GitHub, Standard Webhooks, X-Webhook-Event); ParsePayload completes
	// them from the body.
	DeliveryID string
	Event      string

	spec *SchemeSpec // the source's configured scheme, if it has one
}

// Verify checks the signature of a delivery to s over the exact body
// received. A source with a configured scheme (WEBHOOK_SCHEME_<NAME>)
// accepts that scheme only; any other chooses the scheme by the headers
// present, most specific first. Every configured secret (or key) is tried,
// and comparisons are constant time. Errors wrap ErrUnauthorized and never
// contain the expected signature.
func (s *Source) Verify(req Request, now time.Time) (Verification, error) {
	if s.scheme != nil {
		return s.verifyCustom(req, now)
	}
	h, body := req.Header, req.Body
	switch {
	case has(h, HeaderStandard):
		return s.verifyStandard(h, body, now)
	case has(h, HeaderSendGrid):
		return s.verifySendGrid(h, body, now)
	case has(h, HeaderStripe):
		return s.verifyStripe(h, body, now)
	case has(h, HeaderGitHub):
		return s.verifyGitHub(h, body)
	case has(h, HeaderGeneric):
		return s.verifyGeneric(h, body)
	}
	return Verification{}, unauthorized("The delivery has no signature header (%s, %s, %s, %s or %s).",
		HeaderGeneric, HeaderGitHub, HeaderStripe, HeaderSendGrid, "webhook-signature")
}

func has(h http.Header, name string) bool { return len(h.Values(name)) > 0 }

func (s *Source) verifyGeneric(h http.Header, body []byte) (Verification, error) {
	value := h.Get(HeaderGeneric)
	sig, err := ParseHexSignature(value, false)
	if err != nil {
		return Verification{}, unauthorized("%s is malformed: %s.", HeaderGeneric, err)
	}
	if !s.matchHMAC(body, [][]byte{sig}) {
		return Verification{}, unauthorized("%s does not match the body.", HeaderGeneric)
	}
	return Verification{Scheme: SchemeGeneric, Signature: value, Event: strings.TrimSpace(h.Get(HeaderGenericEvent))}, nil
}

func (s *Source) verifyGitHub(h http.Header, body []byte) (Verification, error) {
	value := h.Get(HeaderGitHub)
	sig, err := ParseHexSignature(value, true)
	if err != nil {
		return Verification{}, unauthorized("%s is malformed: %s.", HeaderGitHub, err)
	}
	if !s.matchHMAC(body, [][]byte{sig}) {
		return Verification{}, unauthorized("%s does not match the body.", HeaderGitHub)
	}
	return Verification{
		Scheme: SchemeGitHub, Signature: value,
		Event:      strings.TrimSpace(h.Get(HeaderGitHubEvent)),
		DeliveryID: strings.TrimSpace(h.Get(HeaderGitHubDelivery)),
	}, nil
}

func (s *Source) verifyStripe(h http.Header, body []byte, now time.Time) (Verification, error) {
	value := h.Get(HeaderStripe)
	sig, err := ParseStripeSignature(value)
	if err != nil {
		return Verification{}, unauthorized("%s is malformed: %s.", HeaderStripe, err)
	}
	if err := s.checkTime(sig.Time, now); err != nil {
		return Verification{}, err
	}
	// Stripe signs "<t>.<body>" with t exactly as sent.
	if !s.matchHMAC(signedContent(sig.RawTime+".", body), sig.V1) {
		return Verification{}, unauthorized("%s does not match the body.", HeaderStripe)
	}
	return Verification{Scheme: SchemeStripe, Signature: value}, nil
}

func (s *Source) verifyStandard(h http.Header, body []byte, now time.Time) (Verification, error) {
	value := h.Get(HeaderStandard)
	id := h.Get(HeaderStandardID)
	if id == "" || strings.ContainsAny(id, ". \t") {
		return Verification{}, unauthorized("webhook-id is missing or malformed.")
	}
	tsValue := h.Get(HeaderStandardTime)
	ts, err := ParseTimestamp(tsValue)
	if err != nil {
		return Verification{}, unauthorized("webhook-timestamp is malformed: %s.", err)
	}
	sigs, err := ParseStandardSignature(value)
	if err != nil {
		return Verification{}, unauthorized("webhook-signature is malformed: %s.", err)
	}
	if err := s.checkTime(ts, now); err != nil {
		return Verification{}, err
	}
	content := signedContent(id+"."+tsValue+".", body)
	if !matchHMACKeys(s.standardKeys, content, sigs) {
		return Verification{}, unauthorized("webhook-signature does not match the body.")
	}
	return Verification{Scheme: SchemeStandard, Signature: value, DeliveryID: id}, nil
}

func (s *Source) verifySendGrid(h http.Header, body []byte, now time.Time) (Verification, error) {
	if len(s.publicKeys) == 0 {
		return Verification{}, unauthorized("Source %q has no public key for SendGrid's signed event webhook.", s.Name)
	}
	value := h.Get(HeaderSendGrid)
	sig, err := ParseSendGridSignature(value)
	if err != nil {
		return Verification{}, unauthorized("%s is malformed: %s.", HeaderSendGrid, err)
	}
	tsValue := h.Get(HeaderSendGridTime)
	ts, err := ParseTimestamp(tsValue)
	if err != nil {
		return Verification{}, unauthorized("%s is malformed: %s.", HeaderSendGridTime, err)
	}
	if err := s.checkTime(ts, now); err != nil {
		return Verification{}, err
	}
	digest := sha256.Sum256(signedContent(tsValue, body))
	ok := false
	for _, k := range s.publicKeys {
		if ecdsa.VerifyASN1(k, digest[:], sig) {
			ok = true
		}
	}
	if !ok {
		return Verification{}, unauthorized("%s does not match the body.", HeaderSendGrid)
	}
	return Verification{Scheme: SchemeSendGrid, Signature: value}, nil
}

// checkTime refuses timestamps more than the tolerance away from now, in
// the future as well as the past: a future timestamp would otherwise stay
// valid for longer than the tolerance allows.
func (s *Source) checkTime(ts, now time.Time) error {
	return s.checkTimeWithin(ts, now, 0)
}

// checkTimeWithin is checkTime with a scheme's own tolerance (0: the
// source's).
func (s *Source) checkTimeWithin(ts, now time.Time, tol time.Duration) error {
	if tol <= 0 {
		tol = s.tolerance
	}
	if tol <= 0 {
		tol = DefaultTolerance
	}
	d := now.Sub(ts)
	if d > tol || d < -tol {
		return unauthorized("The signed timestamp is outside the accepted tolerance of %s.", tol)
	}
	return nil
}

// matchHMAC reports whether any candidate is the HMAC-SHA256 of content
// under any of the source's HMAC secrets.
func (s *Source) matchHMAC(content []byte, candidates [][]byte) bool {
	return matchHMACKeys(s.hmacKeys, content, candidates)
}

// matchHMACKeys tries every key against every candidate without stopping
// at the first match, comparing in constant time.
func matchHMACKeys(keys [][]byte, content []byte, candidates [][]byte) bool {
	return matchMAC(sha256.New, keys, [][]byte{content}, candidates)
}

func signedContent(prefix string, body []byte) []byte {
	out := make([]byte, 0, len(prefix)+len(body))
	return append(append(out, prefix...), body...)
}

// ParseHexSignature parses a hex HMAC-SHA256 ("sha256=" prefixed when
// requirePrefix, optionally prefixed otherwise).
func ParseHexSignature(v string, requirePrefix bool) ([]byte, error) {
	v = strings.TrimSpace(v)
	rest, prefixed := strings.CutPrefix(v, "sha256=")
	if requirePrefix && !prefixed {
		return nil, errors.New("expected sha256=<hex>")
	}
	if len(rest) != 2*sha256.Size {
		return nil, errors.New("expected 64 hex digits")
	}
	sig, err := hex.DecodeString(rest)
	if err != nil {
		return nil, errors.New("expected 64 hex digits")
	}
	return sig, nil
}

// StripeSignature is a parsed Stripe-Signature header.
type StripeSignature struct {
	Time    time.Time
	RawTime string // t exactly as sent: it is part of the signed content
	V1      [][]byte
}

// ParseStripeSignature parses "t=<unix>,v1=<hex>[,v1=<hex>...]". Other
// schemes (v0) are ignored, as Stripe's libraries do; a v1 that is not
// 64 hex digits is an error.
func ParseStripeSignature(v string) (StripeSignature, error) {
	var out StripeSignature
	for _, item := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok {
			return StripeSignature{}, errors.New("expected comma-separated key=value items")
		}
		switch k {
		case "t":
			if out.RawTime != "" {
				return StripeSignature{}, errors.New("more than one t")
			}
			t, err := ParseTimestamp(val)
			if err != nil {
				return StripeSignature{}, err
			}
			out.Time, out.RawTime = t, val
		case "v1":
			if strings.HasPrefix(val, "sha256=") {
				return StripeSignature{}, errors.New("v1 is not 64 hex digits")
			}
			sig, err := ParseHexSignature(val, false)
			if err != nil {
				return StripeSignature{}, errors.New("v1 is not 64 hex digits")
			}
			out.V1 = append(out.V1, sig)
		}
	}
	if out.RawTime == "" {
		return StripeSignature{}, errors.New("no t=<timestamp>")
	}
	if len(out.V1) == 0 {
		return StripeSignature{}, errors.New("no v1 signature")
	}
	return out, nil
}

// ParseStandardSignature parses Standard Webhooks' space-delimited
// "v1,<base64>" list. Other versions (v1a, asymmetric) are skipped; at least
// one v1 is needed.
func ParseStandardSignature(v string) ([][]byte, error) {
	var sigs [][]byte
	for _, item := range strings.Fields(v) {
		version, sig, ok := strings.Cut(item, ",")
		if !ok {
			return nil, errors.New("expected space-separated v1,<base64> items")
		}
		if version != "v1" {
			continue
		}
		b, err := base64.StdEncoding.DecodeString(sig)
		if err != nil || len(b) != sha256.Size {
			return nil, errors.New("v1 is not a base64 HMAC-SHA256")
		}
		sigs = append(sigs, b)
	}
	if len(sigs) == 0 {
		return nil, errors.New("no v1 signature")
	}
	return sigs, nil
}

// ParseSendGridSignature decodes SendGrid's base64 ASN.1 ECDSA signature.
func ParseSendGridSignature(v string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
	if err != nil || len(b) == 0 || len(b) > 256 {
		return nil, errors.New("expected a base64 ECDSA signature")
	}
	return b, nil
}

// ParseTimestamp parses whole Unix seconds: digits only, no sign, at most
// 12 of them.
func ParseTimestamp(v string) (time.Time, error) {
	if v == "" || len(v) > 12 {
		return time.Time{}, errors.New("expected Unix seconds")
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return time.Time{}, errors.New("expected Unix seconds")
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, errors.New("expected Unix seconds")
	}
	return time.Unix(n, 0), nil
}
