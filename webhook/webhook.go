// Package webhook is the pure half of webhook receipt: the source registry
// built from configuration, the signature schemes (seed generic HMAC,
// GitHub, Stripe, SendGrid's ECDSA and Standard Webhooks, and the
// configurable scheme with its presets: Shopify, Slack, GitLab, Linear,
// Paddle, Twilio), payload parsing (event type and delivery id), header
// redaction and idempotency keys.
//
// It does no I/O (no network, no database, no clock of its own: callers pass
// now), so every parser can be table-tested and fuzzed. httpapi does the
// HTTP, Postgres and Redis around it.
package webhook

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Scheme names a signature scheme.
type Scheme string

const (
	SchemeGeneric  Scheme = "generic"  // X-Webhook-Signature, hex HMAC-SHA256 of the body
	SchemeGitHub   Scheme = "github"   // X-Hub-Signature-256: sha256=<hex>
	SchemeStripe   Scheme = "stripe"   // Stripe-Signature: t=<unix>,v1=<hex>
	SchemeSendGrid Scheme = "sendgrid" // ECDSA P-256 over timestamp+body
	SchemeStandard Scheme = "standard" // Standard Webhooks: webhook-id/-timestamp/-signature
)

// Errors are classified by what the client did wrong, so the HTTP layer
// maps each class to one status. Messages never contain an expected
// signature or a secret.
var (
	// ErrUnauthorized: the signature is missing, malformed or wrong, or its
	// timestamp is outside the tolerance (401).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrInvalidPayload: the body is not the JSON the scheme expects (400).
	ErrInvalidPayload = errors.New("invalid payload")
	// ErrMissingEvent: no event type could be found (400).
	ErrMissingEvent = errors.New("missing event")
	// ErrMediaType: the body is not what its Content-Type says (415).
	ErrMediaType = errors.New("wrong media type")
)

// Error carries a client-facing message and one of the classes above.
type Error struct {
	Kind    error // ErrUnauthorized, ErrInvalidPayload, ErrMissingEvent or ErrMediaType
	Message string
}

func (e *Error) Error() string { return e.Kind.Error() + ": " + e.Message }
func (e *Error) Unwrap() error { return e.Kind }

func unauthorized(format string, args ...any) error {
	return &Error{Kind: ErrUnauthorized, Message: fmt.Sprintf(format, args...)}
}

func invalidPayload(format string, args ...any) error {
	return &Error{Kind: ErrInvalidPayload, Message: fmt.Sprintf(format, args...)}
}

func missingEvent(format string, args ...any) error {
	return &Error{Kind: ErrMissingEvent, Message: fmt.Sprintf(format, args...)}
}

// DefaultTolerance is the accepted difference between a signed timestamp
// and now unless configured (WEBHOOK_TOLERANCE).
const DefaultTolerance = 5 * time.Minute

// DefaultMaxBodyBytes is the body cap unless configured
// (WEBHOOK_MAX_BODY_BYTES). GitHub may send up to 25 MB.
const DefaultMaxBodyBytes = 1 << 20

// MaxDeliveryIDLength bounds delivery ids (the database refuses longer).
const MaxDeliveryIDLength = 255

// MaxEventLength bounds event types (the database refuses longer).
const MaxEventLength = 255

// IdempotencyKey is the Redis key (without the configured prefix) that
// remembers a delivery of source. The delivery id is hashed: it comes from
// the sender and may hold anything up to 255 bytes.
func IdempotencyKey(source, deliveryID string) string {
	sum := sha256.Sum256([]byte(deliveryID))
	return "wh:" + source + ":" + hex.EncodeToString(sum[:])
}
