package realtime

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
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

// Topics lists the topics, sorted.
func (h *Hub) Topics() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Sorted(maps.Keys(h.topics))
}

// HasSubscribers reports whether anyone streams topic, so a feed can skip
// reading what nobody would receive.
func (h *Hub) HasSubscribers(topic string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.topics[topic]) > 0
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
