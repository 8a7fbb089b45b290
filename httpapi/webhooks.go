package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/bespin/bespin/jobs"
	"github.com/bespin/bespin/store"
	"github.com/bespin/bespin/webhook"
)

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
	if _, ok := a.Webhooks.Source(name); ok {
		return name
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
// (404), content type (415), header size (431), body size (413),
// signature (401, nothing stored), JSON (400), event (400). A good delivery is stored and its
// process-webhook job enqueued in one transaction, and answered only after
// the commit (package ingest).
func (a *api) receiveWebhook(w http.ResponseWriter, r *http.Request) (err error) {
	name := r.PathValue("source")
	outcome := outcomeStored
	defer func() {
		if err != nil {
			outcome = webhookOutcome(err)
		}
		a.Metrics.WebhooksReceived.WithLabelValues(a.webhookSourceLabel(name), outcome).Inc()
	}()

	src, found := a.Webhooks.Source(name)
	if !found {
		return errorf(http.StatusNotFound, "unknown_source", "No webhook source of that name is enabled.")
	}
	ct := r.Header.Get("Content-Type")
	enc, supported := webhook.EncodingOf(ct)
	if !supported {
		got := "The request has no Content-Type header"
		if strings.TrimSpace(ct) != "" {
			got = fmt.Sprintf("Content-Type %q is not accepted", ct)
		}
		return errorf(http.StatusUnsupportedMediaType, "unsupported_media_type",
			"%s: send the delivery as application/json (or as GitHub does, application/x-www-form-urlencoded with the JSON in a payload field).", got)
	}
	if n := headerBytes(r.Header); a.WebhookMaxHeaderBytes > 0 && n > a.WebhookMaxHeaderBytes {
		return errorf(http.StatusRequestHeaderFieldsTooLarge, "headers_too_large",
			"The request's headers take %d bytes; a delivery's may take %d (WEBHOOK_MAX_HEADER_BYTES).", n, a.WebhookMaxHeaderBytes)
	}
	body, err := a.readWebhookBody(w, r)
	if err != nil {
		return err
	}
	v, err := src.Verify(webhook.Request{Header: r.Header, Body: body, URL: webhook.RequestURL(r, a.trusted)}, time.Now())
	if err != nil {
		return err
	}
	d, err := webhook.ParsePayload(v, r.Header, enc, body)
	if err != nil {
		return err
	}
	headers, err := json.Marshal(webhook.RedactHeaders(r.Header))
	if err != nil {
		return fmt.Errorf("encode headers: %w", err)
	}
	res, err := a.Ingester.Ingest(r.Context(), store.NewReceipt{
		Source: src.Name, Event: d.Event, DeliveryID: d.DeliveryID,
		Body: body, Payload: d.Payload, Headers: headers,
		Signature: v.Signature, Verified: true, ClientAddr: a.clientIP(r),
	})
	if err != nil {
		return err
	}
	rc := res.Receipt
	answer := webhookCreated{
		ID: rc.ID, Source: rc.Source, Event: rc.Event,
		Verified: rc.Verified, Duplicate: res.Duplicate, CreatedAt: rc.CreatedAt,
	}
	location := "/api/webhooks/" + rc.ID.String()
	if res.Duplicate {
		outcome = outcomeDuplicate
		w.Header().Set("Location", location)
		ok(w, answer)
		return nil
	}
	created(w, location, answer)
	return nil
}

// headerBytes is the size of h as sent: "Name: value\r\n" per value.
func headerBytes(h http.Header) int {
	n := 0
	for k, vs := range h {
		for _, v := range vs {
			n += len(k) + len(v) + len(": \r\n")
		}
	}
	return n
}

// readWebhookBody reads the body up to WebhookMaxBodyBytes (413 beyond).
func (a *api) readWebhookBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	limit := a.WebhookMaxBodyBytes
	tooLarge := errorf(http.StatusRequestEntityTooLarge, "payload_too_large",
		"The body is larger than the %d bytes this server accepts (WEBHOOK_MAX_BODY_BYTES).", limit)
	if r.ContentLength > limit {
		return nil, tooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge
		}
		return nil, errorf(http.StatusBadRequest, "unreadable_body", "The request body could not be read.")
	}
	return body, nil
}

// webhookOutcome is the outcome label of a refused delivery, from the
// code it was answered with.
func webhookOutcome(err error) string {
	e, _ := toError(err)
	switch e.Code {
	case "unknown_source":
		return outcomeUnknownSource
	case "unsupported_media_type":
		return outcomeMediaType
	case "payload_too_large", "headers_too_large":
		return outcomeTooLarge
	case "invalid_signature":
		return outcomeUnauthorized
	case "invalid_payload", "missing_event", "unreadable_body":
		return outcomeInvalid
	}
	return outcomeError
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

func newWebhookReceipt(rc store.Receipt) webhookReceipt {
	out := webhookReceipt{
		ID: rc.ID, Source: rc.Source, Event: rc.Event, DeliveryID: optionalParam(rc.DeliveryID),
		Verified: rc.Verified, Signature: rc.Signature,
		CreatedAt: rc.CreatedAt, ProcessedAt: rc.ProcessedAt,
		Headers: rc.Headers, Payload: rc.Payload, Body: rc.Body,
	}
	if rc.ClientAddr.IsValid() {
		out.ClientAddr = optionalParam(rc.ClientAddr.String())
	}
	return out
}

func parseReceiptID(s string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.UUID{}, errorf(http.StatusBadRequest, "invalid_id", "The receipt id must be a UUID.")
	}
	return id, nil
}

// getWebhook is GET /api/webhooks/{id}: the whole receipt, with its
// redacted headers and payload; ?include=body adds the raw body.
func (a *api) getWebhook(w http.ResponseWriter, r *http.Request) error {
	id, err := parseReceiptID(r.PathValue("id"))
	if err != nil {
		return err
	}
	inc, err := parseInclude(r, "body")
	if err != nil {
		return err
	}
	rc, err := a.Store.Receipt(r.Context(), id)
	if err != nil {
		return err
	}
	if !inc["body"] {
		rc.Body = nil
	}
	ok(w, newWebhookReceipt(rc))
	return nil
}

type replayAccepted struct {
	JobID     string    `json:"job_id"`
	ReceiptID uuid.UUID `json:"receipt_id"`
}

// replayWebhook is POST /api/webhooks/{id}/replay: the stored receipt is
// processed again by a new process-webhook job, which runs its handlers
// and sets processed_at once more. processed_at goes back to null in the
// transaction that enqueues the job (the worker skips receipts already
// processed, which keeps a retried attempt from running handlers twice).
func (a *api) replayWebhook(w http.ResponseWriter, r *http.Request) error {
	id, err := parseReceiptID(r.PathValue("id"))
	if err != nil {
		return err
	}
	var jobID int64
	err = a.inTx(r.Context(), "replay receipt", func(ctx context.Context, tx pgx.Tx) error {
		st := store.New(tx)
		rc, err := st.LockReceipt(ctx, id)
		if err != nil {
			return err
		}
		if err := st.ClearReceiptProcessed(ctx, id); err != nil {
			return err
		}
		res, err := a.River.InsertTx(ctx, tx, jobs.ProcessWebhookArgs{ReceiptID: rc.ID, Source: rc.Source, Event: rc.Event}, nil)
		if err != nil {
			return err
		}
		jobID = res.Job.ID
		return nil
	})
	if err != nil {
		return err
	}
	job := strconv.FormatInt(jobID, 10)
	accepted(w, "/api/jobs/"+job, replayAccepted{JobID: job, ReceiptID: id})
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
	f := store.ReceiptFilter{Source: qs.Get("source"), Event: qs.Get("event"), Cursor: qs.Get("cursor")}
	if f.Source != "" && !webhook.ValidSourceName(f.Source) {
		return invalidParam("source", "is not a source name")
	}
	if len(f.Event) > webhook.MaxEventLength {
		return invalidParam("event", "is longer than %d characters", webhook.MaxEventLength)
	}
	var err error
	if f.Since, err = timeParam(qs.Get("since"), "since", time.Time{}); err != nil {
		return err
	}
	if f.Until, err = timeParam(qs.Get("until"), "until", time.Time{}); err != nil {
		return err
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return invalidParam("until", "must be after since")
	}
	if f.Limit, err = intParam(qs.Get("limit"), "limit", defaultListLimit, 1, maxListLimit); err != nil {
		return err
	}
	inc, err := parseInclude(r, "payload", "body")
	if err != nil {
		return err
	}
	f.WithPayload, f.WithBody = inc["payload"], inc["body"]

	page, err := a.Store.ListReceipts(r.Context(), f)
	if err != nil {
		return err
	}
	out := webhookList{Webhooks: make([]webhookReceipt, len(page.Receipts)), NextCursor: optionalParam(page.Next)}
	for i, rc := range page.Receipts {
		out.Webhooks[i] = newWebhookReceipt(rc)
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
