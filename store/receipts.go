package store

import (
	"context"
	"encoding/json"
	"net/netip"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/bespin/bespin/db"
)

// Receipt is a stored webhook delivery.
type Receipt struct {
	ID         uuid.UUID
	Source     string
	Event      string
	DeliveryID string // the sender's delivery id; "" when it gave none
	// Body is the request body byte for byte; Payload its JSON; Headers
	// the request headers, redacted, as a JSON object. Lists leave out
	// what was not asked for (nil).
	Body        []byte
	Payload     json.RawMessage
	Headers     json.RawMessage
	Signature   string
	Verified    bool
	ClientAddr  netip.Addr // zero when unknown
	CreatedAt   time.Time
	ProcessedAt *time.Time // nil until its process-webhook job has run
	// ContentSHA256 is the body's SHA-256 when the receipt is
	// de-duplicated by content (it has no delivery id); nil otherwise.
	ContentSHA256 []byte
}

func receiptFromRow(r db.WebhookReceipt) Receipt {
	out := Receipt{
		ID: r.ID, Source: r.Source, Event: r.Event, Body: r.Body, Payload: r.Payload, Headers: r.Headers,
		Signature: r.Signature, Verified: r.Verified, CreatedAt: r.CreatedAt, ProcessedAt: r.ProcessedAt,
		ContentSHA256: r.ContentSha256,
	}
	if r.DeliveryID != nil {
		out.DeliveryID = *r.DeliveryID
	}
	if r.ClientAddr != nil {
		out.ClientAddr = *r.ClientAddr
	}
	return out
}

func receiptsFromRows(rows []db.WebhookReceipt) []Receipt {
	out := make([]Receipt, len(rows))
	for i, r := range rows {
		out[i] = receiptFromRow(r)
	}
	return out
}

// NewReceipt is a delivery to store. The caller chooses the id, so that
// each stored row can be matched to its delivery.
type NewReceipt struct {
	ID         uuid.UUID
	Source     string
	Event      string
	DeliveryID string // "" when the delivery carried none
	// ContentSHA256 is the SHA-256 of Body when the delivery is to be
	// de-duplicated by content (it has no delivery id); nil otherwise.
	ContentSHA256 []byte
	Body          []byte
	Payload       []byte
	Headers       []byte
	Signature     string
	Verified      bool
	ClientAddr    netip.Addr // zero when unknown
}

// InsertReceipts stores the receipts in one statement, each unless it is
// stored already: by (source, delivery id), or by (source, content hash)
// within contentWindow. Only the receipts stored now are returned. A
// concurrent insert of the same delivery id waits for the first to commit
// or roll back, so exactly one wins; copies by content are only caught
// across concurrent transactions when each holds LockContent first.
func (s *Store) InsertReceipts(ctx context.Context, rs []NewReceipt, contentWindow time.Duration) ([]Receipt, error) {
	n := len(rs)
	p := db.WebhookReceiptInsertManyParams{
		Ids: make([]uuid.UUID, n), Sources: make([]string, n), Events: make([]string, n),
		DeliveryIds: make([]string, n), ContentSha256s: make([][]byte, n), Bodies: make([][]byte, n), Payloads: make([][]byte, n),
		Headers: make([][]byte, n), Signatures: make([]string, n), Verified: make([]bool, n),
		ClientAddrs:          make([]string, n),
		ContentWindowSeconds: contentWindow.Seconds(),
	}
	for i, r := range rs {
		p.Ids[i], p.Sources[i], p.Events[i], p.DeliveryIds[i] = r.ID, r.Source, r.Event, r.DeliveryID
		p.ContentSha256s[i] = r.ContentSHA256
		if p.ContentSha256s[i] == nil {
			p.ContentSha256s[i] = []byte{} // the query's stand-in for NULL
		}
		p.Bodies[i], p.Payloads[i], p.Headers[i] = r.Body, r.Payload, r.Headers
		p.Signatures[i], p.Verified[i] = r.Signature, r.Verified
		if r.ClientAddr.IsValid() {
			p.ClientAddrs[i] = r.ClientAddr.WithZone("").String() // inet has no zones
		}
	}
	rows, err := s.q.WebhookReceiptInsertMany(ctx, s.conn, p)
	if err != nil {
		return nil, Classify(err, "insert receipts")
	}
	return receiptsFromRows(rows), nil
}

// LockContent takes a transaction-scoped advisory lock on each key, in
// the order given (sort them, so that two transactions never wait for
// each other in a cycle). Call it on New(tx): the locks are held until
// the transaction ends.
func (s *Store) LockContent(ctx context.Context, keys []int64) error {
	return Classify(s.q.WebhookReceiptLockContent(ctx, s.conn, keys), "lock content keys")
}

// Receipt reads one receipt; ErrNotFound when there is none.
func (s *Store) Receipt(ctx context.Context, id uuid.UUID) (Receipt, error) {
	r, err := s.q.WebhookReceiptGetByID(ctx, s.conn, id)
	if Kind(err) == ErrNotFound {
		return Receipt{}, notFound("Webhook receipt " + id.String() + " not found.")
	}
	if err != nil {
		return Receipt{}, Classify(err, "read receipt")
	}
	return receiptFromRow(r), nil
}

// ReceiptsByID reads the receipts with the given ids that exist.
func (s *Store) ReceiptsByID(ctx context.Context, ids []uuid.UUID) ([]Receipt, error) {
	rows, err := s.q.WebhookReceiptGetByIDs(ctx, s.conn, ids)
	if err != nil {
		return nil, Classify(err, "read receipts")
	}
	return receiptsFromRows(rows), nil
}

// DeliveryKey names a delivery: its source and the sender's delivery id.
type DeliveryKey struct {
	Source, DeliveryID string
}

// ReceiptsByDelivery reads the stored receipts of the given deliveries.
func (s *Store) ReceiptsByDelivery(ctx context.Context, keys []DeliveryKey) ([]Receipt, error) {
	var p db.WebhookReceiptGetByDeliveryIDsParams
	for _, k := range keys {
		p.Sources = append(p.Sources, k.Source)
		p.DeliveryIds = append(p.DeliveryIds, k.DeliveryID)
	}
	rows, err := s.q.WebhookReceiptGetByDeliveryIDs(ctx, s.conn, p)
	if err != nil {
		return nil, Classify(err, "read original receipts")
	}
	return receiptsFromRows(rows), nil
}

// ContentKey names a delivery without a delivery id: its source and the
// SHA-256 of its body.
type ContentKey struct {
	Source string
	SHA256 [32]byte
}

// ReceiptsByContent reads the newest stored receipt of each key.
func (s *Store) ReceiptsByContent(ctx context.Context, keys []ContentKey) ([]Receipt, error) {
	var p db.WebhookReceiptGetByContentParams
	for _, k := range keys {
		p.Sources = append(p.Sources, k.Source)
		p.ContentSha256s = append(p.ContentSha256s, k.SHA256[:])
	}
	rows, err := s.q.WebhookReceiptGetByContent(ctx, s.conn, p)
	if err != nil {
		return nil, Classify(err, "read original receipts by content")
	}
	return receiptsFromRows(rows), nil
}

// LockReceipt reads a receipt and locks its row until the transaction
// ends (call it on New(tx)), so two attempts of its job can never run its
// handlers at once. ErrNotFound when there is none.
func (s *Store) LockReceipt(ctx context.Context, id uuid.UUID) (Receipt, error) {
	r, err := s.q.WebhookReceiptGetForUpdate(ctx, s.conn, id)
	if Kind(err) == ErrNotFound {
		return Receipt{}, notFound("Webhook receipt " + id.String() + " not found.")
	}
	if err != nil {
		return Receipt{}, Classify(err, "lock receipt")
	}
	return receiptFromRow(r), nil
}

// SetReceiptProcessed sets the receipt's processed_at to now.
func (s *Store) SetReceiptProcessed(ctx context.Context, id uuid.UUID) error {
	return Classify(s.q.WebhookReceiptSetProcessed(ctx, s.conn, id), "set processed_at")
}

// ClearReceiptProcessed sets the receipt's processed_at back to NULL: it
// waits for processing again (a replay).
func (s *Store) ClearReceiptProcessed(ctx context.Context, id uuid.UUID) error {
	return Classify(s.q.WebhookReceiptClearProcessed(ctx, s.conn, id), "clear processed_at")
}

// DeleteReceiptsOlderThan deletes at most batch receipts created before
// cutoff, skipping rows locked by a running job, and says how many.
func (s *Store) DeleteReceiptsOlderThan(ctx context.Context, cutoff time.Time, batch int) (int64, error) {
	n, err := s.q.WebhookReceiptDeleteOlderThan(ctx, s.conn, db.WebhookReceiptDeleteOlderThanParams{Cutoff: cutoff, BatchSize: int32(batch)})
	return n, Classify(err, "delete old receipts")
}

// ReceiptFilter selects a page of receipts, newest first.
type ReceiptFilter struct {
	Source, Event string    // "" for all
	Since, Until  time.Time // created_at >= Since and < Until; zero for open
	Limit         int
	Cursor        string // from the previous page's ReceiptPage.Next
	// WithPayload and WithBody read the payload and the raw body too.
	WithPayload, WithBody bool
}

// ReceiptPage is one page of receipts (without headers). Next is the
// cursor of the following page, "" on the last one.
type ReceiptPage struct {
	Receipts []Receipt
	Next     string
}

const receiptCursor = "receipt"

// ListReceipts returns one page of receipts, newest first, keyset-paginated
// on (created_at, id).
func (s *Store) ListReceipts(ctx context.Context, f ReceiptFilter) (ReceiptPage, error) {
	p := db.WebhookReceiptListParams{
		WithPayload: f.WithPayload, WithBody: f.WithBody, MaxRows: int32(f.Limit + 1),
		Source: optional(f.Source), Event: optional(f.Event),
	}
	if !f.Since.IsZero() {
		p.Since = &f.Since
	}
	if !f.Until.IsZero() {
		p.Until = &f.Until
	}
	if f.Cursor != "" {
		at, id, err := decodeReceiptCursor(f.Cursor)
		if err != nil {
			return ReceiptPage{}, err
		}
		p.CursorCreatedAt, p.CursorID = &at, &id
	}
	rows, err := s.q.WebhookReceiptList(ctx, s.conn, p)
	if err != nil {
		return ReceiptPage{}, Classify(err, "list receipts")
	}
	var page ReceiptPage
	if len(rows) > f.Limit {
		rows = rows[:f.Limit]
		last := rows[len(rows)-1]
		// Microseconds: Postgres' precision, so the next page starts exactly after it.
		page.Next = encodeCursor(receiptCursor, strconv.FormatInt(last.CreatedAt.UnixMicro(), 10), last.ID.String())
	}
	page.Receipts = make([]Receipt, len(rows))
	for i, r := range rows {
		page.Receipts[i] = receiptFromRow(db.WebhookReceipt{
			ID: r.ID, Source: r.Source, Event: r.Event, DeliveryID: r.DeliveryID, Body: r.Body, Payload: r.Payload,
			Signature: r.Signature, Verified: r.Verified, ClientAddr: r.ClientAddr, CreatedAt: r.CreatedAt, ProcessedAt: r.ProcessedAt,
		})
	}
	return page, nil
}

func decodeReceiptCursor(c string) (time.Time, uuid.UUID, error) {
	fields, err := decodeCursor(receiptCursor, c, 2)
	if err != nil {
		return time.Time{}, uuid.UUID{}, err
	}
	micros, err := strconv.ParseInt(fields[0], 10, 64)
	if err != nil {
		return time.Time{}, uuid.UUID{}, errBadCursor
	}
	id, err := uuid.Parse(fields[1])
	if err != nil {
		return time.Time{}, uuid.UUID{}, errBadCursor
	}
	return time.UnixMicro(micros), id, nil
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
