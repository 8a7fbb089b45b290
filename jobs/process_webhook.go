package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/bespin/bespin/store"
)

// ProcessWebhookArgs asks for a stored webhook receipt to be processed. The
// API inserts it in the receipt's own transaction, once per receipt (a
// duplicate delivery never inserts another).
type ProcessWebhookArgs struct {
	ReceiptID uuid.UUID `json:"receipt_id"`
	// Source and Event are informational (River UI shows args); the worker
	// reads the receipt itself.
	Source string `json:"source"`
	Event  string `json:"event"`
}

func (ProcessWebhookArgs) Kind() string { return "process-webhook" }

// WebhookHandler handles one receipt. It runs inside the transaction that
// marks the receipt processed and completes the job, so its database
// writes through tx happen exactly once per receipt; anything it does
// outside the database must be idempotent, because a failed attempt is
// retried. Returning an error rolls everything back and lets River retry.
type WebhookHandler func(ctx context.Context, tx pgx.Tx, receipt store.Receipt) error

// AnyEvent registers a handler for every event of a source.
const AnyEvent = "*"

// WebhookHandlers maps (source, event) to the handlers code registered.
// Register at start, before workers run.
type WebhookHandlers struct {
	mu       sync.RWMutex
	handlers map[[2]string][]WebhookHandler
}

// NewWebhookHandlers returns an empty registry: receipts are then only
// marked processed.
func NewWebhookHandlers() *WebhookHandlers {
	return &WebhookHandlers{handlers: map[[2]string][]WebhookHandler{}}
}

// Handle registers h for event (or AnyEvent) of source. Handlers run in
// registration order, exact-event ones first.
func (r *WebhookHandlers) Handle(source, event string, h WebhookHandler) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := [2]string{source, event}
	r.handlers[k] = append(r.handlers[k], h)
}

// For returns the handlers for a receipt of source and event.
func (r *WebhookHandlers) For(source, event string) []WebhookHandler {
	if r == nil {
		return nil
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := append([]WebhookHandler(nil), r.handlers[[2]string{source, event}]...)
	if event != AnyEvent {
		out = append(out, r.handlers[[2]string{source, AnyEvent}]...)
	}
	return out
}

// ProcessWebhookWorker runs a receipt's handlers and sets its processed_at,
// completing its job in the same transaction (see Completion).
type ProcessWebhookWorker struct {
	river.WorkerDefaults[ProcessWebhookArgs]
	Logger     *slog.Logger
	Completion Completion
	Handlers   *WebhookHandlers
}

func (w *ProcessWebhookWorker) Work(ctx context.Context, job *river.Job[ProcessWebhookArgs]) error {
	var receipt store.Receipt
	err := completeInTx(ctx, w.Completion, job, func(ctx context.Context, tx pgx.Tx) error {
		receipts := store.New(tx)
		// The row lock serialises attempts on one receipt; processed_at,
		// set in the same transaction as the handlers' writes and the
		// job's completion, makes a later attempt (a job rescued after a
		// crash between commit and River's own bookkeeping, say) a no-op
		// that only completes its job.
		var err error
		receipt, err = receipts.LockReceipt(ctx, job.Args.ReceiptID)
		if errors.Is(err, store.ErrNotFound) {
			return river.JobCancel(fmt.Errorf("webhook receipt %s no longer exists", job.Args.ReceiptID))
		}
		if err != nil {
			return err
		}
		if receipt.ProcessedAt != nil {
			return nil
		}
		for i, h := range w.Handlers.For(receipt.Source, receipt.Event) {
			if err := h(ctx, tx, receipt); err != nil {
				return fmt.Errorf("webhook handler %d for %s/%s: %w", i+1, receipt.Source, receipt.Event, err)
			}
		}
		return receipts.SetReceiptProcessed(ctx, receipt.ID)
	})
	if err != nil {
		return err
	}
	if w.Logger != nil {
		w.Logger.DebugContext(ctx, "webhook processed", slog.String("receipt_id", receipt.ID.String()),
			slog.String("source", receipt.Source), slog.String("event", receipt.Event))
	}
	return nil
}
