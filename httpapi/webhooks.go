package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/bespin/bespin/db"
	"github.com/bespin/bespin/ingest"
	"github.com/bespin/bespin/webhook"
)

const defaultWebhookMaxBody = 1 << 20

// Outcomes of a webhook delivery, the outcome label of
// bespin_webhooks_received_total.
const (
	outcomeStored        = "stored"
	outcomeDuplicate     = "duplicate"
	outcomeRateLimited   = "rate_limited"
	outcomeUnknownSource = "unknown_source"
	outcomeMediaType     = "unsupported_media_type"
	outcomeTooLarge      = "too_large"
	outcomeUnauthorized  = "unauthorized"
	outcomeInvalid       = "invalid"
	outcomeError         = "error"
)

// webhookSourceLabel keeps the metric's source label bounded: the path
// segment is chosen by whoever sends the request.
func (a *api) webhookSourceLabel(name string) string {
	if a.Webhooks != nil {
		if _, ok := a.Webhooks.Source(name); ok {
			return name
		}
	}
	return "unknown"
}

// webhookRateLimit limits deliveries per source and client IP. It comes
// first in the order of checks (429 before 404), so unknown sources are
// limited too (under one shared key, to keep Redis keys bounded).
func (a *api) webhookRateLimit(next http.Handler) http.Handler {
	key := func(r *http.Request) string {
		source := r.PathValue("source")
		if !webhook.ValidSourceName(source) {
			source = "-"
		}
		return source + ":" + a.clientIP(r).String()
	}
	onLimited := func(r *http.Request) {
		a.Metrics.WebhooksReceived.WithLabelValues(a.webhookSourceLabel(r.PathValue("source")), outcomeRateLimited).Inc()
	}
	return a.rateLimitBy("webhooks", a.RateLimitWebhooks, key, onLimited, next)
}

// webhookCreated is the answer to a delivery: 201 when stored, 200 with
// duplicate true for a delivery already stored (the original receipt).
type webhookCreated struct {
	ID        uuid.UUID `json:"id"`
	Source    string    `json:"source"`
	Event     string    `json:"event"`
	Verified  bool      `json:"verified"`
	Duplicate bool      `json:"duplicate"`
	CreatedAt time.Time `json:"created_at"`
}

// receiveWebhook is POST /api/webhooks/{source}. After the rate limit
// (middleware), the checks run in the order of the spec: source enabled
// (404), content type (415), body size (413), signature (401, nothing
// stored), JSON (400), event (400). A good delivery is stored and its
// process-webhook job enqueued in one transaction, and answered only after
// the commit.
func (a *api) receiveWebhook(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("source")
	outcome := outcomeError
	defer func() {
		a.Metrics.WebhooksReceived.WithLabelValues(a.webhookSourceLabel(name), outcome).Inc()
	}()

	var src *webhook.Source
	if a.Webhooks != nil {
		src, _ = a.Webhooks.Source(name)
	}
	if src == nil {
		outcome = outcomeUnknownSource
		return errorf(http.StatusNotFound, "unknown_source", "No webhook source of that name is enabled.")
	}

	enc, supported := webhook.EncodingOf(r.Header.Get("Content-Type"))
	if !supported {
		outcome = outcomeMediaType
		return errorf(http.StatusUnsupportedMediaType, "unsupported_media_type",
			"Send the delivery as application/json (or application/x-www-form-urlencoded with a payload field).")
	}

	limit := a.WebhookMaxBodyBytes
	if limit <= 0 {
		limit = defaultWebhookMaxBody
	}
	tooLarge := errorf(http.StatusRequestEntityTooLarge, "payload_too_large",
		"The body is larger than the %d bytes this server accepts (WEBHOOK_MAX_BODY_BYTES).", limit)
	if r.ContentLength > limit {
		outcome = outcomeTooLarge
		return tooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			outcome = outcomeTooLarge
			return tooLarge
		}
		outcome = outcomeInvalid
		return errorf(http.StatusBadRequest, "unreadable_body", "The request body could not be read.")
	}

	v, err := src.Verify(webhook.Request{Header: r.Header, Body: body, URL: webhook.RequestURL(r, a.trusted)}, time.Now())
	if err != nil {
		outcome = outcomeUnauthorized
		return errorf(http.StatusUnauthorized, "invalid_signature", "%s", webhookMessage(err))
	}

	d, err := webhook.ParsePayload(v, r.Header, enc, body)
	if err != nil {
		outcome = outcomeInvalid
		code := "invalid_payload"
		if errors.Is(err, webhook.ErrMissingEvent) {
			code = "missing_event"
		}
		return errorf(http.StatusBadRequest, code, "%s", webhookMessage(err))
	}

	headers, err := json.Marshal(webhook.RedactHeaders(r.Header))
	if err != nil {
		return fmt.Errorf("encode headers: %w", err)
	}
	stored, err := a.receipts.Store(r.Context(), ingest.Delivery{
		Source: src.Name, Event: d.Event, DeliveryID: d.DeliveryID,
		Body: body, Payload: d.Payload, Headers: headers,
		Signature: v.Signature, ClientAddr: a.clientIP(r),
	})
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && strings.HasPrefix(pgErr.Code, "22") { // data exception, e.g. \u0000 in jsonb
			outcome = outcomeInvalid
			return errorf(http.StatusBadRequest, "invalid_payload", "The payload cannot be stored as JSON (for example, it contains \\u0000).")
		}
		return err
	}
	receipt, duplicate := stored.Receipt, stored.Duplicate
	res := webhookCreated{
		ID: receipt.ID, Source: receipt.Source, Event: receipt.Event,
		Verified: receipt.Verified, Duplicate: duplicate, CreatedAt: receipt.CreatedAt,
	}
	location := "/api/webhooks/" + receipt.ID.String()
	if duplicate {
		outcome = outcomeDuplicate
		w.Header().Set("Location", location)
		ok(w, res)
		return nil
	}
	outcome = outcomeStored
	if a.WebhookAnnouncer != nil {
		a.WebhookAnnouncer.Announce(webhookSummary{ID: receipt.ID, Source: receipt.Source, Event: receipt.Event, CreatedAt: receipt.CreatedAt})
	}
	created(w, location, res)
	return nil
}

// webhookSummary is what ?topic=webhooks streams carry for a new receipt.
type webhookSummary struct {
	ID        uuid.UUID `json:"id"`
	Source    string    `json:"source"`
	Event     string    `json:"event"`
	CreatedAt time.Time `json:"created_at"`
}

func webhookMessage(err error) string {
	var we *webhook.Error
	if errors.As(err, &we) {
		return we.Message
	}
	return "The delivery was refused."
}

// webhookReceipt is a receipt in the read API. Payload and body are only
// present where asked for (body as base64, byte for byte).
type webhookReceipt struct {
	ID          uuid.UUID       `json:"id"`
	Source      string          `json:"source"`
	Event       string          `json:"event"`
	DeliveryID  *string         `json:"delivery_id"`
	Verified    bool            `json:"verified"`
	Signature   string          `json:"signature"`
	ClientAddr  *string         `json:"client_addr"`
	CreatedAt   time.Time       `json:"created_at"`
	ProcessedAt *time.Time      `json:"processed_at"`
	Headers     json.RawMessage `json:"headers,omitempty"`
	Payload     json.RawMessage `json:"payload,omitempty"`
	Body        []byte          `json:"body,omitempty"`
}

// getWebhook is GET /api/webhooks/{id}: the whole receipt, with its
// redacted headers and payload; ?include=body adds the raw body.
func (a *api) getWebhook(w http.ResponseWriter, r *http.Request) error {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		return errorf(http.StatusBadRequest, "invalid_id", "The receipt id must be a UUID.")
	}
	inc, err := parseInclude(r, "body")
	if err != nil {
		return err
	}
	rec, err := db.New().WebhookReceiptGetByID(r.Context(), a.Pool, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return notFound("Webhook receipt")
	}
	if err != nil {
		return err
	}
	out := webhookReceipt{
		ID: rec.ID, Source: rec.Source, Event: rec.Event, DeliveryID: rec.DeliveryID,
		Verified: rec.Verified, Signature: rec.Signature, ClientAddr: addrString(rec.ClientAddr),
		CreatedAt: rec.CreatedAt, ProcessedAt: rec.ProcessedAt,
		Headers: rec.Headers, Payload: rec.Payload,
	}
	if inc["body"] {
		out.Body = rec.Body
	}
	ok(w, out)
	return nil
}

type webhookList struct {
	Webhooks   []webhookReceipt `json:"webhooks"`
	NextCursor *string          `json:"next_cursor"`
}

// listWebhooks is GET /api/webhooks: receipts newest first, filtered by
// source, event, since (inclusive) and until (exclusive), in pages of limit
// with an opaque keyset cursor. Payload and body only with
// ?include=payload,body.
func (a *api) listWebhooks(w http.ResponseWriter, r *http.Request) error {
	qs := r.URL.Query()
	p := db.WebhookReceiptListParams{MaxRows: defaultListLimit + 1}
	if s := qs.Get("source"); s != "" {
		if !webhook.ValidSourceName(s) {
			return invalidParam("source", "is not a source name")
		}
		p.Source = &s
	}
	if s := qs.Get("event"); s != "" {
		if len(s) > webhook.MaxEventLength {
			return invalidParam("event", "is longer than %d characters", webhook.MaxEventLength)
		}
		p.Event = &s
	}
	for _, f := range []struct {
		name string
		dst  **time.Time
	}{{"since", &p.Since}, {"until", &p.Until}} {
		if s := qs.Get(f.name); s != "" {
			t, err := timeParam(s, f.name, time.Time{})
			if err != nil {
				return err
			}
			*f.dst = &t
		}
	}
	if p.Since != nil && p.Until != nil && !p.Since.Before(*p.Until) {
		return invalidParam("until", "must be after since")
	}
	limit, err := intParam(qs.Get("limit"), "limit", defaultListLimit, 1, maxListLimit)
	if err != nil {
		return err
	}
	p.MaxRows = int32(limit + 1)
	if s := qs.Get("cursor"); s != "" {
		at, id, err := decodeReceiptCursor(s)
		if err != nil {
			return invalidParam("cursor", "is not a cursor this server gave out")
		}
		p.CursorCreatedAt, p.CursorID = &at, &id
	}
	inc, err := parseInclude(r, "payload", "body")
	if err != nil {
		return err
	}
	p.WithPayload, p.WithBody = inc["payload"], inc["body"]

	rows, err := db.New().WebhookReceiptList(r.Context(), a.Pool, p)
	if err != nil {
		return err
	}
	out := webhookList{Webhooks: make([]webhookReceipt, 0, min(len(rows), limit))}
	for i, row := range rows {
		if i == limit {
			c := encodeReceiptCursor(rows[i-1].CreatedAt, rows[i-1].ID)
			out.NextCursor = &c
			break
		}
		out.Webhooks = append(out.Webhooks, webhookReceipt{
			ID: row.ID, Source: row.Source, Event: row.Event, DeliveryID: row.DeliveryID,
			Verified: row.Verified, Signature: row.Signature, ClientAddr: addrString(row.ClientAddr),
			CreatedAt: row.CreatedAt, ProcessedAt: row.ProcessedAt,
			Payload: row.Payload, Body: row.Body,
		})
	}
	ok(w, out)
	return nil
}

// parseInclude reads ?include=a,b against the allowed names.
func parseInclude(r *http.Request, allowed ...string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, v := range r.URL.Query()["include"] {
		for _, name := range strings.Split(v, ",") {
			name = strings.TrimSpace(name)
			valid := false
			for _, a := range allowed {
				valid = valid || name == a
			}
			if !valid {
				return nil, invalidParam("include", "may only name %s", strings.Join(allowed, ", "))
			}
			out[name] = true
		}
	}
	return out, nil
}

// A cursor is the (created_at, id) of the last receipt of a page, in
// microseconds (Postgres' precision), base64url-encoded.
func encodeReceiptCursor(at time.Time, id uuid.UUID) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(at.UnixMicro(), 10) + "_" + id.String()))
}

func decodeReceiptCursor(s string) (time.Time, uuid.UUID, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return time.Time{}, uuid.UUID{}, err
	}
	micros, idStr, found := strings.Cut(string(b), "_")
	if !found {
		return time.Time{}, uuid.UUID{}, errors.New("no separator")
	}
	n, err := strconv.ParseInt(micros, 10, 64)
	if err != nil {
		return time.Time{}, uuid.UUID{}, err
	}
	id, err := uuid.Parse(idStr)
	if err != nil {
		return time.Time{}, uuid.UUID{}, err
	}
	return time.UnixMicro(n), id, nil
}

func addrString(a *netip.Addr) *string {
	if a == nil {
		return nil
	}
	s := a.String()
	return &s
}
