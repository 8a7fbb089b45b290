// The overview's live feed: job status changes and new receipts, newest
// first, the last `cap` only.
import { ref, shallowRef } from "vue";
import type { JobStatus, WebhookSummary } from "../api/types";
import { createBatcher } from "../lib/batcher";
import { subscribeTopic } from "../live/topics";

export interface ActivityItem {
  key: string;
  at: string;
  kind: "job" | "receipt";
  text: string;
  to: string;
  status?: JobStatus["status"];
}

type Incoming = { kind: "job"; msg: JobStatus } | { kind: "receipt"; msg: WebhookSummary };

let counter = 0;

function toItem(i: Incoming): ActivityItem {
  counter++;
  if (i.kind === "job") {
    const m = i.msg;
    return { key: `j${counter}`, at: m.updated_at, kind: "job", text: `Job ${m.job_id} (${m.kind}) ${m.status}`, to: `/jobs/${m.job_id}`, status: m.status };
  }
  const m = i.msg;
  return { key: `r${counter}`, at: m.created_at, kind: "receipt", text: `Receipt ${m.source} / ${m.event}`, to: `/webhooks/${m.id}` };
}

export function createActivityFeed(options: { cap?: number; batchMs?: number; onChange?: () => void } = {}) {
  const cap = options.cap ?? 50;
  const items = shallowRef<ActivityItem[]>([]);
  const total = ref(0);
  const batcher = createBatcher<Incoming>((batch) => {
    total.value += batch.length;
    const fresh = batch.slice(-cap).map(toItem).reverse();
    items.value = [...fresh, ...items.value].slice(0, cap);
    options.onChange?.();
  }, options.batchMs ?? 200);
  const subs: (() => void)[] = [];
  return {
    items,
    total,
    flush: () => batcher.flush(),
    start(): void {
      if (subs.length > 0) return;
      subs.push(subscribeTopic("jobs", { onMessage: (msg) => batcher.push({ kind: "job", msg }) }));
      subs.push(subscribeTopic("webhooks", { onMessage: (msg) => batcher.push({ kind: "receipt", msg }) }));
    },
    stop(): void {
      subs.splice(0).forEach((u) => u());
      batcher.cancel();
    },
  };
}
