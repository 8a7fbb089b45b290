// Live updates for a paged list (the jobs and receipts lists): a topic
// stream's messages are applied in batches, and after a reconnect the
// newest page is read again over REST (an older page stays as it was read).
import type { Topic } from "../api/types";
import { createBatcher } from "../lib/batcher";
import { subscribeTopic, type TopicMessages } from "../live/topics";

export function createLiveList<K extends Topic>(
  topic: K,
  list: {
    apply: (items: TopicMessages[K][]) => void;
    load: () => Promise<void>;
    /** Whether the newest page is shown. */
    newest: () => boolean;
  },
  batchMs = 100,
) {
  const batcher = createBatcher<TopicMessages[K]>(list.apply, batchMs);
  let unsubscribe: (() => void) | null = null;
  return {
    /** Starts live updates and loads the first page. */
    async start(): Promise<void> {
      unsubscribe ??= subscribeTopic(topic, {
        onMessage: (m) => batcher.push(m),
        onResync: () => {
          if (list.newest()) void list.load();
        },
      });
      await list.load();
    },
    stop(): void {
      unsubscribe?.();
      unsubscribe = null;
      batcher.cancel();
    },
    /** The message stream's buffer, applied now (tests, before reading rows). */
    flush: () => batcher.flush(),
    push: (m: TopicMessages[K]) => batcher.push(m),
  };
}
