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
// This is how a table announces new rows to dashboards. For webhook
// receipts: NOTIFY bespin_webhooks with a summary in the transaction that
// stores the receipt (pg_notify('bespin_webhooks', json_build_object(...)::text)),
// and in serve.go:
//
//	realtime.NewTopicFeed(hub, "bespin_webhooks", "webhooks", logger).AttachTo(listener)
//
// after which `GET /api/ws?topic=webhooks` streams them.
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
		var obj map[string]json.RawMessage
		if err := json.Unmarshal([]byte(p), &obj); err != nil {
			f.logger.Warn("ignoring a notification that is not a JSON object",
				slog.String("channel", f.channel), slog.String("error", err.Error()))
			continue
		}
		f.hub.PublishJSON(f.topic, []byte(p))
	}
	return nil
}
