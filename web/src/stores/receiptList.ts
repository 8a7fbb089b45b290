// The receipts list: a page of GET /api/webhooks plus new receipts from the
// webhooks stream, bounded like the jobs list (at most insertCap live rows
// on page 1, the rest counted).
import { reactive, ref, shallowRef } from "vue";
import { api, call } from "../api/client";
import type { WebhookReceipt, WebhookSummary } from "../api/types";
import { createLiveList } from "./liveList";
import { createPager } from "./pager";

export interface ReceiptFilters {
  source: string;
  event: string;
  /** RFC 3339, inclusive. */
  since: string;
  /** RFC 3339, exclusive. */
  until: string;
}

/** A row: a receipt as listed, or as the stream announced it (live: what
 * the stream does not say is unknown, null). */
export interface ReceiptRow {
  id: string;
  source: string;
  event: string;
  created_at: string;
  verified: boolean | null;
  processed_at: string | null | undefined;
  live: boolean;
}

function fromReceipt(r: WebhookReceipt): ReceiptRow {
  return { id: r.id, source: r.source, event: r.event, created_at: r.created_at, verified: r.verified, processed_at: r.processed_at, live: false };
}

function fromSummary(s: WebhookSummary): ReceiptRow {
  return { id: s.id, source: s.source, event: s.event, created_at: s.created_at, verified: null, processed_at: undefined, live: true };
}

function newestFirst(a: ReceiptRow, b: ReceiptRow): number {
  const d = Date.parse(b.created_at) - Date.parse(a.created_at);
  return d !== 0 ? d : b.id.localeCompare(a.id);
}

export function createReceiptList(options: { pageSize?: number; insertCap?: number; batchMs?: number } = {}) {
  const pageSize = options.pageSize ?? 50;
  const insertCap = options.insertCap ?? 50;
  const filters = reactive<ReceiptFilters>({ source: "", event: "", since: "", until: "" });
  const rows = shallowRef<ReceiptRow[]>([]);
  const loading = ref(false);
  const error = shallowRef<unknown>(null);
  const pager = createPager(load);
  const { page, nextCursor } = pager;
  const inserted = ref(0);
  const unseen = ref(0);
  let floor = 0; // created_at (ms) of the last row when more pages follow
  let seq = 0;
  function matches(s: WebhookSummary): boolean {
    const at = Date.parse(s.created_at);
    return (
      (filters.source === "" || s.source === filters.source) &&
      (filters.event === "" || s.event === filters.event) &&
      (filters.since === "" || at >= Date.parse(filters.since)) &&
      (filters.until === "" || at < Date.parse(filters.until))
    );
  }

  async function load(): Promise<void> {
    const mine = ++seq;
    loading.value = true;
    try {
      const data = await call(() =>
        api.GET("/api/webhooks", {
          params: {
            query: {
              limit: pageSize,
              cursor: pager.cursor(),
              source: filters.source || undefined,
              event: filters.event || undefined,
              since: filters.since || undefined,
              until: filters.until || undefined,
            },
          },
        }),
      );
      if (mine !== seq) return;
      rows.value = data.webhooks.map(fromReceipt);
      nextCursor.value = data.next_cursor;
      const last = data.webhooks[data.webhooks.length - 1];
      floor = data.next_cursor !== null && last !== undefined ? Date.parse(last.created_at) : 0;
      inserted.value = 0;
      unseen.value = 0;
      error.value = null;
    } catch (err) {
      if (mine === seq) error.value = err;
    } finally {
      if (mine === seq) loading.value = false;
    }
  }

  function apply(items: readonly WebhookSummary[]): void {
    if (page.value !== 0) return;
    const have = new Set(rows.value.map((r) => r.id));
    const fresh: ReceiptRow[] = [];
    let extra = 0;
    for (const s of items) {
      if (have.has(s.id) || !matches(s) || Date.parse(s.created_at) < floor) continue;
      have.add(s.id);
      if (inserted.value + fresh.length < insertCap) fresh.push(fromSummary(s));
      else extra++;
    }
    unseen.value += extra;
    if (fresh.length === 0) return;
    inserted.value += fresh.length;
    rows.value = [...fresh, ...rows.value].sort(newestFirst);
  }

  const live = createLiveList("webhooks", { apply, load, newest: () => page.value === 0 }, options.batchMs);

  return {
    filters,
    rows,
    loading,
    error,
    page,
    nextCursor,
    inserted,
    unseen,
    load,
    apply,
    flush: live.flush,
    start: live.start,
    stop: live.stop,
    async setFilters(f: Partial<ReceiptFilters>): Promise<void> {
      Object.assign(filters, f);
      await pager.first();
    },
    older: pager.older,
    newer: pager.newer,
    first: pager.first,
  };
}

export type ReceiptList = ReturnType<typeof createReceiptList>;
