package realtime

import (
	"context"
	"encoding/json"
	"log/slog"
)

// WebhookChannel carries new-receipt summaries (ingest.Summary) between
// instances: each instance's ingestion announces on it (NewAnnouncer) and
// each instance's TopicFeed streams it as TopicWebhooks.
const WebhookChannel = "bespin_webhooks"

// TopicWebhooks streams every new webhook receipt (a summary).
const TopicWebhooks = "webhooks"

// TopicFeed forwards every message an Announcer sends on a channel,
// verbatim, to the stream subscribers of a topic. Streams are live only,
// so a resync has nothing to re-read.
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

// Process splits each payload, an Announcer's JSON array of objects, into
// its messages; the objects are forwarded as they are, never re-encoded.
func (f *TopicFeed) Process(_ context.Context, payloads []string, _ bool) error {
	if !f.hub.HasSubscribers(f.topic) {
		return nil
	}
	for _, p := range payloads {
		var batch []json.RawMessage
		if err := json.Unmarshal([]byte(p), &batch); err != nil {
			f.logger.Warn("ignoring a notification that is not an announcement (a JSON array)",
				slog.String("channel", f.channel), slog.String("error", err.Error()))
			continue
		}
		for _, msg := range batch {
			if len(msg) == 0 || msg[0] != '{' {
				f.logger.Warn("ignoring an announced message that is not a JSON object", slog.String("channel", f.channel))
				continue
			}
			f.hub.PublishJSON(f.topic, msg)
		}
	}
	return nil
}
