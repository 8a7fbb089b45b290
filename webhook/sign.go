package webhook

import (
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Signing is the sender's side of Verify, for tools and examples
// (`bespin-api webhook send`) and tests: it produces the headers a
// provider would send, so that what Verify accepts is shown, not just
// described. A new scheme gets its signer here beside its verifier.

// SignOptions describe one delivery to sign.
type SignOptions struct {
	Scheme Scheme
	// Event goes in X-Webhook-Event (generic) or X-GitHub-Event (GitHub,
	// required there). The other schemes carry it in the body.
	Event string
	// ID is the delivery id: X-GitHub-Delivery (GitHub), webhook-id
	// (Standard Webhooks, required there) or X-Webhook-Id (generic).
	ID string
	// Time is the signed timestamp (Stripe, SendGrid, Standard Webhooks).
	Time time.Time
	// Key signs SendGrid deliveries (ECDSA P-256); SendGrid keeps it and
	// shows its public half as the verification key.
	Key *ecdsa.PrivateKey
}

// DefaultScheme is the scheme a source's own provider signs with: the
// built-in sources' providers, the seed's generic HMAC for any other.
func DefaultScheme(source string) Scheme {
	switch source {
	case "github":
		return SchemeGitHub
	case "stripe":
		return SchemeStripe
	case "sendgrid":
		return SchemeSendGrid
	}
	return SchemeGeneric
}

// Sign returns the headers that sign body for s with opts.Scheme, using
// the source's first secret (the one a sender should use while older ones
// are still accepted).
func (s *Source) Sign(body []byte, opts SignOptions) (http.Header, error) {
	switch opts.Scheme {
	case SchemeGeneric, SchemeGitHub, SchemeStripe, SchemeStandard:
		if len(s.hmacKeys) == 0 {
			return nil, fmt.Errorf("source %q has no HMAC secret to sign %s deliveries with", s.Name, opts.Scheme)
		}
	case SchemeSendGrid:
		if opts.Key == nil {
			return nil, errors.New("a SendGrid delivery is signed with an ECDSA private key; none was given")
		}
	default:
		return nil, fmt.Errorf("unknown scheme %q (generic, github, stripe, sendgrid or standard)", opts.Scheme)
	}
	h := http.Header{}
	ts := strconv.FormatInt(opts.Time.Unix(), 10)
	switch opts.Scheme {
	case SchemeGeneric:
		h.Set(HeaderGeneric, hex.EncodeToString(mac(s.hmacKeys[0], body)))
		setIf(h, HeaderGenericEvent, opts.Event)
		setIf(h, HeaderWebhookID, opts.ID)
	case SchemeGitHub:
		if opts.Event == "" {
			return nil, errors.New("a GitHub delivery needs an event (X-GitHub-Event)")
		}
		h.Set(HeaderGitHub, "sha256="+hex.EncodeToString(mac(s.hmacKeys[0], body)))
		h.Set(HeaderGitHubEvent, opts.Event)
		setIf(h, HeaderGitHubDelivery, opts.ID)
	case SchemeStripe:
		h.Set(HeaderStripe, "t="+ts+",v1="+hex.EncodeToString(mac(s.hmacKeys[0], signedContent(ts+".", body))))
	case SchemeStandard:
		if opts.ID == "" || strings.ContainsAny(opts.ID, ". \t") {
			return nil, errors.New("a Standard Webhooks delivery needs an id (webhook-id) without dots or spaces")
		}
		h.Set(HeaderStandardID, opts.ID)
		h.Set(HeaderStandardTime, ts)
		h.Set(HeaderStandard, "v1,"+base64.StdEncoding.EncodeToString(mac(s.standardKeys[0], signedContent(opts.ID+"."+ts+".", body))))
	case SchemeSendGrid:
		digest := sha256.Sum256(signedContent(ts, body))
		sig, err := ecdsa.SignASN1(rand.Reader, opts.Key, digest[:])
		if err != nil {
			return nil, fmt.Errorf("sign: %w", err)
		}
		h.Set(HeaderSendGrid, base64.StdEncoding.EncodeToString(sig))
		h.Set(HeaderSendGridTime, ts)
	}
	return h, nil
}

func mac(key, content []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(content)
	return m.Sum(nil)
}

func setIf(h http.Header, name, value string) {
	if value != "" {
		h.Set(name, value)
	}
}
