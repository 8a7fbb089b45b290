// Package groupcommit handles items in batches, the way a database groups
// commits: items that arrive while a batch is being handled wait and form
// the next batch. A lone item is handled at once, with no timer to wait
// for; under load, one transaction serves many items instead of one each.
// Webhook ingestion (package ingest) uses it to share transactions, and so
// commits and WAL flushes, between concurrent deliveries; jobs.Completer
// between concurrent job completions; jobs.Inserter between concurrent
// job creations.
//
// Handlers run on goroutines started on demand (at most Config.Handlers at
// once) that end when nothing is queued, so a Batcher needs no stopping:
// once every Do call has returned, nothing of it is left running.
package groupcommit

import "sync"

// Config configures a Batcher.
type Config[T any] struct {
	// Handle handles one batch. Items report their results through
	// themselves (T is usually a pointer); Do returns when Handle has.
	Handle func(batch []T)
	// MaxItems caps a batch (default 100).
	MaxItems int
	// Handlers caps the batches handled at once (default 1).
	Handlers int
	// Weight and MaxWeight, if set, also cap a batch by the items' total
	// weight (bytes, say); an item heavier than MaxWeight goes alone.
	Weight    func(T) int
	MaxWeight int
}

// Batcher batches items for Config.Handle.
type Batcher[T any] struct {
	cfg Config[T]

	mu      sync.Mutex
	pending []entry[T]
	active  int // handler goroutines running
}

type entry[T any] struct {
	item T
	done chan struct{}
}

// New returns a Batcher.
func New[T any](cfg Config[T]) *Batcher[T] {
	if cfg.MaxItems <= 0 {
		cfg.MaxItems = 100
	}
	if cfg.Handlers <= 0 {
		cfg.Handlers = 1
	}
	return &Batcher[T]{cfg: cfg}
}

// Do queues item and returns once the batch it joined has been handled.
func (b *Batcher[T]) Do(item T) {
	e := entry[T]{item: item, done: make(chan struct{})}
	b.mu.Lock()
	b.pending = append(b.pending, e)
	if b.active < b.cfg.Handlers {
		b.active++
		go b.run()
	}
	b.mu.Unlock()
	<-e.done
}

// run handles batches until nothing is queued.
func (b *Batcher[T]) run() {
	for {
		batch := b.take()
		if batch == nil {
			return
		}
		items := make([]T, len(batch))
		for i, e := range batch {
			items[i] = e.item
		}
		b.cfg.Handle(items)
		for _, e := range batch {
			close(e.done)
		}
	}
}

// take removes the next batch from the queue or, when the queue is empty,
// retires the calling handler and returns nil.
func (b *Batcher[T]) take() []entry[T] {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.pending) == 0 {
		b.active--
		return nil
	}
	n, weight := 0, 0
	for n < len(b.pending) && n < b.cfg.MaxItems {
		if b.cfg.Weight != nil {
			weight += b.cfg.Weight(b.pending[n].item)
			if n > 0 && weight > b.cfg.MaxWeight {
				break
			}
		}
		n++
	}
	batch := make([]entry[T], n)
	copy(batch, b.pending)
	b.pending = b.pending[n:]
	if len(b.pending) == 0 {
		b.pending = nil // let the backing array go
	}
	return batch
}
