package realtime

import (
	"context"
	"encoding/json"
	"log/slog"
)

// TopicFeed forwards every notification on a channel, verbatim, to the
// stream subscribers of a topic. A payload must be a JSON object (a small
// summary: NOTIFY payloads stay far under 8000 bytes). Streams are live
// only, so a resync has nothing to re-read.
//
// A payload is one JSON object or, as an Announcer sends them, an array
// of objects. Webhook receipts are announced this way on bespin_webhooks
// (httpapi, after commit) and streamed on `GET /api/ws?topic=webhooks`.
type TopicFeed struct {
	hub     *Hub
	channel string
	topic   string
	logger  *slog.Logger
}

// NewTopicFeed returns the feed and adds topic to the hub.
func NewTopicFeed(hub *Hub, channel, topic string, logger *slog.Logger) *TopicFeed {
	hub.AddTopic(topic)
	return &TopicFeed{hub: hub, channel: channel, topic: topic, logger: logger}
}

// AttachTo adds the feed to l.
func (f *TopicFeed) AttachTo(l *Listener) { l.Add(f) }

func (f *TopicFeed) Channel() string { return f.channel }

func (f *TopicFeed) Process(_ context.Context, payloads []string, _ bool) error {
	if !f.hub.HasSubscribers(f.topic) {
		return nil
	}
	for _, p := range payloads {
		// An Announcer batch is an array of objects; a lone object is one.
		var batch []json.RawMessage
		if err := json.Unmarshal([]byte(p), &batch); err != nil {
			batch = []json.RawMessage{json.RawMessage(p)}
		}
		for _, msg := range batch {
			var obj map[string]json.RawMessage
			if err := json.Unmarshal(msg, &obj); err != nil {
				f.logger.Warn("ignoring a notification that is not a JSON object",
					slog.String("channel", f.channel), slog.String("error", err.Error()))
				continue
			}
			f.hub.PublishJSON(f.topic, msg)
		}
	}
	return nil
}
