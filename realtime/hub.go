package realtime

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"

	"github.com/bespin/bespin/jobs"
)

// Hub routes messages to WebSocket subscribers: per job id (the watchers of
// one job) and per topic (dashboard streams: "jobs", and "webhooks" once a
// feed publishes it). It never blocks on a subscriber: each has a small
// queue that coalesces (job watchers) or drops the subscriber (streams)
// when the client cannot keep up.
type Hub struct {
	mu     sync.Mutex
	jobs   map[int64]*jobWatch
	topics map[string]map[*subscriber]struct{}
}

// jobWatch is one watched job.
type jobWatch struct {
	subs map[*subscriber]struct{}
	kind string       // for the message if the job is deleted
	last *jobs.Status // the last status published to its watchers
}

// NewHub returns an empty hub. Topics exist once added with AddTopic.
func NewHub() *Hub {
	return &Hub{jobs: map[int64]*jobWatch{}, topics: map[string]map[*subscriber]struct{}{}}
}

// TopicJobs streams every job status change.
const TopicJobs = "jobs"

// AddTopic makes topic available to ?topic= subscribers.
func (h *Hub) AddTopic(topic string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.topics[topic] == nil {
		h.topics[topic] = map[*subscriber]struct{}{}
	}
}

// HasTopic reports whether topic was added.
func (h *Hub) HasTopic(topic string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.topics[topic]
	return ok
}

// HasSubscribers reports whether anyone streams topic, so a feed can skip
// reading what nobody would receive.
func (h *Hub) HasSubscribers(topic string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.topics[topic]) > 0
}

// Publish sends msg (JSON-encoded once) to every subscriber of topic.
func (h *Hub) Publish(topic string, msg any) error {
	data, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("encode %s message: %w", topic, err)
	}
	h.PublishJSON(topic, data)
	return nil
}

// PublishJSON sends an already encoded JSON message to every subscriber of
// topic.
func (h *Hub) PublishJSON(topic string, data []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.topics[topic] {
		s.offer(data, false)
	}
}

// WatchedJobs lists the ids that have at least one watcher.
func (h *Hub) WatchedJobs() []int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	ids := make([]int64, 0, len(h.jobs))
	for id := range h.jobs {
		ids = append(ids, id)
	}
	return ids
}

func (h *Hub) watched(id int64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.jobs[id] != nil
}

// lastPublished is the last status the job's watchers were sent, if any.
func (h *Hub) lastPublished(id int64) *jobs.Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	if w := h.jobs[id]; w != nil {
		return w.last
	}
	return nil
}

// publishJob sends st to the job's watchers, and to the jobs stream when
// toStream. Watchers already holding the same message skip it.
func (h *Hub) publishJob(st jobs.Status, toStream bool) error {
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode job status: %w", err)
	}
	id, err := strconv.ParseInt(st.JobID, 10, 64)
	if err != nil {
		return fmt.Errorf("job status id %q: %w", st.JobID, err)
	}
	terminal := st.Terminal()
	h.mu.Lock()
	defer h.mu.Unlock()
	if w := h.jobs[id]; w != nil {
		w.last = &st
		for s := range w.subs {
			s.offer(data, terminal)
		}
	}
	if toStream {
		for s := range h.topics[TopicJobs] {
			s.offer(data, false)
		}
	}
	return nil
}

func (h *Hub) kind(id int64) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if w := h.jobs[id]; w != nil {
		return w.kind
	}
	return ""
}

func (h *Hub) subscribeJob(id int64, kind string) *subscriber {
	s := newSubscriber(true)
	h.mu.Lock()
	defer h.mu.Unlock()
	w := h.jobs[id]
	if w == nil {
		w = &jobWatch{subs: map[*subscriber]struct{}{}, kind: kind}
		h.jobs[id] = w
	}
	w.subs[s] = struct{}{}
	return s
}

func (h *Hub) unsubscribeJob(id int64, s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if w := h.jobs[id]; w != nil {
		delete(w.subs, s)
		if len(w.subs) == 0 {
			delete(h.jobs, id)
		}
	}
}

func (h *Hub) subscribeTopic(topic string) *subscriber {
	s := newSubscriber(false)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.topics[topic][s] = struct{}{}
	return s
}

func (h *Hub) unsubscribeTopic(topic string, s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.topics[topic], s)
}

// Queue bounds. A job watcher that falls 8 messages behind gets only the
// latest status (which is all a status watcher needs); a stream subscriber
// that falls 256 behind is disconnected, since skipping parts of a stream
// silently would mislead it.
const (
	jobQueueCap    = 8
	streamQueueCap = 256
)

type outMsg struct {
	data     []byte
	terminal bool
}

// subscriber is one WebSocket's outbox: the messages the hub offers, and
// the pings and close frames the server asks for. A connection has no
// goroutine waiting for its outbox: when there is something to send and no
// writer is running, the subscriber starts one (start), which sends until
// the outbox is empty and then ends. An idle watcher thus costs its reader
// goroutine only, which is most of what 10,000 watchers cost (the fanout
// benchmark: KiB per connection). At most one writer runs at a time, so
// messages go out in the order they were offered.
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
