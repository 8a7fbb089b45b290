package realtime

import (
	"bytes"
	"sync"
)

// Queue bounds. A job watcher that falls 8 messages behind gets only the
// latest status (which is all a status watcher needs); a stream subscriber
// that falls 4,096 behind is disconnected (1013), since skipping parts of
// a stream silently would mislead it.
//
// Why 4,096: the job feed publishes everything one batch of notifications
// names at once, far faster than a connection is written, so a stream's
// queue holds a whole batch before its writer has sent much of it. At 256
// a burst of a few hundred job changes closed healthy streams (a console
// reading ?topic=jobs while 1,000 jobs completed). A full queue holds a
// few hundred bytes per message, about 1 MiB at most.
const (
	jobQueueCap    = 8
	streamQueueCap = 4096
)

type outMsg struct {
	data     []byte
	terminal bool
}

// subscriber is one WebSocket connection's outbox, and the state machine
// that decides when a writer goroutine runs for it.
//
// Why a state machine and not a goroutine per connection: with 10,000
// watchers most connections are idle for minutes, and a goroutine parked
// on an empty channel still costs its stack. So a connection has no writer
// while there is nothing to send; the first thing queued starts one, and
// the writer ends as soon as the outbox is empty again. The connection's
// reader goroutine (pongs, close frames) is the only one that lives as long
// as the connection.
//
// What can be due, all under mu:
//   - queue: messages the hub offered (job statuses, stream messages);
//   - ping: the server's pinger asked for a ping;
//   - closeCode: shutdown asked for a close frame (1001);
//   - dropped: a stream subscriber fell too far behind and must be closed
//     (1013); a job watcher never drops, it keeps only the latest status.
//
// The states:
//
//	idle     writing=false: nothing due, no writer. offer, requestPing and
//	         requestClose record what is due and, via wakeLocked, call
//	         start (the connection's startWriter), moving to writing.
//	writing  writing=true: one writer goroutine loops on next(), which hands
//	         it everything due at once; when next() finds nothing due it
//	         sets writing=false (back to idle) and the writer returns. So at
//	         most one writer runs, and messages go out in offer order.
//	over     over=true: the connection is closing or gone (end). Nothing is
//	         queued any more, next() returns false, no writer starts.
//
// Before the upgrade completes start is nil: offers are queued and attach
// starts the first writer once the connection can be written to.
type subscriber struct {
	coalesce bool // job watcher: keep the latest when full; else drop the subscriber

	mu        sync.Mutex
	start     func() // starts a writer; nil until the connection is upgraded
	queue     []outMsg
	last      []byte // last message queued, to skip repeats
	dropped   bool
	ping      bool // a ping is due
	closeCode int  // a close frame is due (server going away)
	writing   bool // a writer runs; it takes all of the above before it ends
	over      bool // the connection is closing or gone: nothing more is sent
}

func newSubscriber(coalesce bool) *subscriber {
	return &subscriber{coalesce: coalesce}
}

func (s *subscriber) offer(data []byte, terminal bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.over || s.dropped || (s.coalesce && bytes.Equal(data, s.last)) {
		return
	}
	s.last = data
	limit := streamQueueCap
	if s.coalesce {
		limit = jobQueueCap
	}
	switch {
	case len(s.queue) < limit:
		s.queue = append(s.queue, outMsg{data, terminal})
	case s.coalesce:
		s.queue = append(s.queue[:0], outMsg{data, terminal})
	default:
		s.queue, s.dropped = nil, true
	}
	s.wakeLocked()
}

// attach sets the function that starts the connection's writer, and starts
// one if anything was offered before the connection was ready.
func (s *subscriber) attach(start func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.start = start
	if len(s.queue) > 0 || s.dropped || s.ping || s.closeCode != 0 {
		s.wakeLocked()
	}
}

// requestPing asks the writer for a ping.
func (s *subscriber) requestPing() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.over {
		s.ping = true
		s.wakeLocked()
	}
}

// requestClose asks the writer to send a close frame with code, before
// anything still queued.
func (s *subscriber) requestClose(code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.over && s.closeCode == 0 {
		s.closeCode = code
		s.wakeLocked()
	}
}

func (s *subscriber) wakeLocked() {
	if !s.writing && !s.over && s.start != nil {
		s.writing = true
		s.start()
	}
}

// outbox is what a writer has to send next.
type outbox struct {
	msgs      []outMsg
	dropped   bool // the subscriber fell too far behind: close it
	ping      bool
	closeCode int
}

// next takes everything due. When nothing is (or the connection is over)
// it returns false, and the calling writer must end: the next offer
// starts a new one.
func (s *subscriber) next() (outbox, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := outbox{msgs: s.queue, dropped: s.dropped, ping: s.ping, closeCode: s.closeCode}
	s.queue, s.ping = nil, false
	if s.over || (len(o.msgs) == 0 && !o.dropped && !o.ping && o.closeCode == 0) {
		s.writing = false
		return outbox{}, false
	}
	return o, true
}

// end marks the connection as closing or gone: nothing more is queued or
// sent. It reports whether it was already over.
func (s *subscriber) end() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	was := s.over
	s.over, s.queue = true, nil
	return was
}

// whileOpen runs f with the subscriber locked, unless it is over; end
// waits for f. The reader extends its deadline through it, so that a late
// pong cannot undo the short deadline set after a close frame was sent.
func (s *subscriber) whileOpen(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.over {
		f()
	}
}
