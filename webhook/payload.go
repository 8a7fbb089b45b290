package webhook

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Encoding is how a delivery's body carries its JSON.
type Encoding int

const (
	EncodingJSON Encoding = iota + 1 // application/json or any +json type
	EncodingForm                     // application/x-www-form-urlencoded: payload=<json> (GitHub), or fields (Slack, Twilio)
)

// EncodingOf maps a Content-Type header to an Encoding; ok is false for
// anything else (415).
func EncodingOf(contentType string) (Encoding, bool) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return 0, false
	}
	switch {
	case mt == "application/json", strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"):
		return EncodingJSON, true
	case mt == "application/x-www-form-urlencoded":
		return EncodingForm, true
	}
	return 0, false
}

// Delivery is a verified delivery's meaning.
type Delivery struct {
	Event string
	// DeliveryID identifies the delivery for idempotency; empty when the
	// sender gave none (such deliveries cannot be de-duplicated).
	DeliveryID string
	// Payload is the JSON document: the body, a form's payload field, or
	// (configured schemes) an object of the form's fields.
	Payload []byte
}

// ParsePayload extracts the JSON payload, the event type and the delivery
// id of a delivery whose signature v has verified. Errors wrap
// ErrInvalidPayload or ErrMissingEvent.
func ParsePayload(v Verification, h http.Header, enc Encoding, body []byte) (Delivery, error) {
	if v.spec != nil {
		return parseConfigured(v.spec, h, enc, body)
	}
	payload := body
	if enc == EncodingForm {
		if json.Valid(body) {
			// curl -d's default Content-Type, on a JSON body.
			return Delivery{}, &Error{Kind: ErrMediaType, Message: "The body is JSON but its Content-Type is " +
				"application/x-www-form-urlencoded (curl -d's default): send it with Content-Type: application/json."}
		}
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return Delivery{}, invalidPayload("The body is not form-encoded as its Content-Type (application/x-www-form-urlencoded) says; send JSON with Content-Type: application/json.")
		}
		p := form.Get("payload")
		if p == "" {
			return Delivery{}, invalidPayload("Content-Type application/x-www-form-urlencoded needs the JSON in a payload field (as GitHub sends it); to send JSON as the body, use Content-Type: application/json.")
		}
		payload = []byte(p)
	}
	if !utf8.Valid(payload) || !json.Valid(payload) {
		return Delivery{}, invalidPayload("The payload is not valid JSON.")
	}

	d := Delivery{Payload: payload, DeliveryID: v.DeliveryID}
	switch v.Scheme {
	case SchemeGitHub:
		d.Event = v.Event
	case SchemeStripe:
		d.Event = stringField(payload, "type")
		d.DeliveryID = stringField(payload, "id")
	case SchemeSendGrid:
		ev, err := sendGridEvent(payload)
		if err != nil {
			return Delivery{}, err
		}
		d.Event = ev
		// SendGrid sends no delivery id; a retried batch is byte-identical.
		sum := sha256.Sum256(body)
		d.DeliveryID = hex.EncodeToString(sum[:])
	case SchemeStandard:
		d.Event = stringField(payload, "type", "event")
		if d.Event == "" {
			d.Event = strings.TrimSpace(h.Get(HeaderGenericEvent))
		}
	default:
		// The header, when sent, spares decoding the payload.
		d.Event = v.Event
		if d.Event == "" {
			d.Event = stringField(payload, "event")
		}
	}
	return d.complete(h, eventHint(v.Scheme))
}

// parseConfigured is ParsePayload for a source with a configured scheme:
// the payload may be built from a form (see SchemeSpec.payload), and the
// event and delivery id come from where the scheme says.
func parseConfigured(spec *SchemeSpec, h http.Header, enc Encoding, body []byte) (Delivery, error) {
	payload, err := spec.payload(enc, body)
	if err != nil {
		return Delivery{}, err
	}
	if !utf8.Valid(payload) || !json.Valid(payload) {
		return Delivery{}, invalidPayload("The payload is not valid JSON.")
	}
	d := Delivery{
		Payload:    payload,
		Event:      spec.lookup(spec.event, h, payload),
		DeliveryID: spec.lookup(spec.id, h, payload),
	}
	return d.complete(h, spec.eventHint())
}

// complete falls back to the generic delivery id headers and checks what
// the database will hold.
func (d Delivery) complete(h http.Header, hint string) (Delivery, error) {
	if d.DeliveryID == "" {
		d.DeliveryID = firstNonEmpty(strings.TrimSpace(h.Get(HeaderIdempotencyKey)), strings.TrimSpace(h.Get(HeaderWebhookID)))
	}
	if d.Event == "" {
		return Delivery{}, missingEvent("%s", hint)
	}
	if !printable(d.Event, MaxEventLength) {
		return Delivery{}, invalidPayload("The event type must be at most %d printable characters.", MaxEventLength)
	}
	if d.DeliveryID != "" && !printable(d.DeliveryID, MaxDeliveryIDLength) {
		return Delivery{}, invalidPayload("The delivery id must be at most %d printable characters.", MaxDeliveryIDLength)
	}
	return d, nil
}

func eventHint(s Scheme) string {
	switch s {
	case SchemeGitHub:
		return "The delivery has no X-GitHub-Event header."
	case SchemeStripe:
		return `The Stripe event has no "type".`
	case SchemeStandard:
		return `The payload has no "type" (nor "event", nor X-Webhook-Event header).`
	}
	return `The delivery has no event: send an X-Webhook-Event header or an "event" field in the body.`
}

// sendGridEvent checks that the body is SendGrid's non-empty array of
// events, each with an "event"; the receipt's event is their common type,
// or "batch" when they differ.
func sendGridEvent(payload []byte) (string, error) {
	var events []json.RawMessage
	if err := json.Unmarshal(payload, &events); err != nil {
		return "", invalidPayload("A SendGrid delivery must be a JSON array of events.")
	}
	if len(events) == 0 {
		return "", missingEvent("The SendGrid delivery holds no events.")
	}
	common := ""
	for i, e := range events {
		ev := stringField(e, "event")
		if ev == "" {
			return "", missingEvent("SendGrid event %d has no \"event\".", i+1)
		}
		switch {
		case i == 0:
			common = ev
		case ev != common:
			common = "batch"
		}
	}
	return common, nil
}

// stringField is the first of names that is a non-empty top-level string
// field of a JSON object, or "": the object is decoded once.
func stringField(doc []byte, names ...string) string {
	doc = bytes.TrimSpace(doc)
	if len(doc) == 0 || doc[0] != '{' {
		return ""
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(doc, &obj) != nil {
		return ""
	}
	for _, name := range names {
		var s string
		if json.Unmarshal(obj[name], &s) == nil {
			if s = strings.TrimSpace(s); s != "" {
				return s
			}
		}
	}
	return ""
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// printable reports whether s is valid UTF-8 of at most max characters
// with no control characters.
func printable(s string, max int) bool {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// redacted lists headers that carry credentials or signatures. The
// signature itself is kept in its own column; other secrets nowhere.
var redacted = map[string]bool{
	"Authorization":         true,
	"Proxy-Authorization":   true,
	"Cookie":                true,
	"Set-Cookie":            true,
	"X-Api-Key":             true,
	HeaderGeneric:           true,
	HeaderGitHub:            true,
	"X-Hub-Signature":       true,
	HeaderStripe:            true,
	HeaderSendGrid:          true,
	HeaderStandard:          true,
	"X-Twilio-Signature":    true,
	"X-Shopify-Hmac-Sha256": true,
}

// RedactedValue replaces redacted header values.
const RedactedValue = "[redacted]"

// redactedName reports whether RedactHeaders redacts header k.
func redactedName(k string) bool {
	ck := http.CanonicalHeaderKey(k)
	return redacted[ck] || sensitiveName(ck)
}

// RedactHeaders returns a copy of h with credentials and signatures
// replaced by RedactedValue: known names, and any name that mentions a
// signature, secret, token, password or auth.
func RedactHeaders(h http.Header) map[string][]string {
	out := make(map[string][]string, len(h))
	for k, vs := range h {
		ck := http.CanonicalHeaderKey(k)
		if redactedName(ck) {
			out[ck] = []string{RedactedValue}
			continue
		}
		out[ck] = append([]string(nil), vs...)
	}
	return out
}

func sensitiveName(k string) bool {
	k = strings.ToLower(k)
	for _, w := range []string{"signature", "secret", "token", "password", "auth", "hmac", "api-key", "apikey"} {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}
