// One WebSocket per topic stream, shared by every page that listens
// (overview feed, jobs list, webhooks list), opened while anyone listens.
import type { JobStatus, Topic, WebhookSummary } from "../api/types";
import { LiveSocket, wsUrl, type LiveSocketOptions } from "./socket";
import { parseJobStatus, parseWebhookSummary } from "./messages";

export interface TopicMessages {
  jobs: JobStatus;
  webhooks: WebhookSummary;
}

interface Listener<T> {
  onMessage: (msg: T) => void;
  /** After a reconnect: whatever was missed must be read again over REST. */
  onResync?: () => void;
}

interface Stream<T> {
  socket: LiveSocket<T>;
  listeners: Set<Listener<T>>;
}

// Keyed by topic; a topic's stream carries TopicMessages[topic].
const streams = new Map<Topic, Stream<unknown>>();

/** For tests: options every new stream socket gets. */
export const topicSocketOptions: Partial<LiveSocketOptions<unknown>> = {};

function open<K extends Topic>(topic: K, parse: (d: string) => TopicMessages[K] | null): Stream<TopicMessages[K]> {
  const listeners = new Set<Listener<TopicMessages[K]>>();
  const socket = new LiveSocket<TopicMessages[K]>({
    label: `${topic} stream`,
    url: () => wsUrl("/api/ws", { topic }), // the session cookie authenticates it
    parse,
    onMessage: (msg) => listeners.forEach((l) => l.onMessage(msg)),
    onOpen: (reconnected) => {
      if (reconnected) listeners.forEach((l) => l.onResync?.());
    },
    ...(topicSocketOptions as Partial<LiveSocketOptions<TopicMessages[K]>>),
  });
  return { socket, listeners };
}

/** Listens to topic until the returned function is called. */
export function subscribeTopic<K extends Topic>(topic: K, listener: Listener<TopicMessages[K]>): () => void {
  let s = streams.get(topic) as Stream<TopicMessages[K]> | undefined;
  if (s === undefined) {
    const parse = (topic === "jobs" ? parseJobStatus : parseWebhookSummary) as (d: string) => TopicMessages[K] | null;
    s = open(topic, parse);
    streams.set(topic, s as unknown as Stream<unknown>);
  }
  const stream = s;
  stream.listeners.add(listener);
  stream.socket.start();
  return () => {
    stream.listeners.delete(listener);
    if (stream.listeners.size === 0) {
      stream.socket.stop();
      streams.delete(topic);
    }
  };
}

/** The socket of a topic, while open (for connection indicators). */
export function topicSocket(topic: Topic): LiveSocket<unknown> | null {
  return streams.get(topic)?.socket ?? null;
}

/** For tests: closes every stream. */
export function closeAllTopics(): void {
  for (const s of streams.values()) s.socket.stop();
  streams.clear();
}
