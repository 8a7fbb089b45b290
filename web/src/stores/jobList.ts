// The jobs list: a page of GET /api/jobs plus live changes from the jobs
// stream. Updates arrive in batches (one redraw per 100 ms at most), are
// applied in arrival order (the last message for a job wins, never one
// older than what is shown), and the page stays bounded: at most
// insertCap live-inserted rows; newer jobs beyond that are only counted
// ("N new jobs: show"), so a flood cannot grow the list.
import { reactive, ref, shallowRef } from "vue";
import { api, call } from "../api/client";
import type { JobCreated, JobStateFilter, JobStatus, JobStatusName } from "../api/types";
import { createLiveList } from "./liveList";
import { createPager } from "./pager";

export interface JobFilters {
  state: JobStateFilter | "";
  kind: string;
}

export interface JobListOptions {
  pageSize?: number;
  insertCap?: number;
  batchMs?: number;
}

const statusNames: ReadonlySet<string> = new Set<JobStatusName>(["pending", "running", "completed", "failed"]);

function isOlder(a: JobStatus, b: JobStatus): boolean {
  return Date.parse(a.updated_at) < Date.parse(b.updated_at);
}

export function createJobList(options: JobListOptions = {}) {
  const pageSize = options.pageSize ?? 50;
  const insertCap = options.insertCap ?? 50;
  const maxUnseen = 100_000;

  const filters = reactive<JobFilters>({ state: "", kind: "" });
  const rows = shallowRef<JobStatus[]>([]);
  const loading = ref(false);
  const error = shallowRef<unknown>(null);
  const pager = createPager(load);
  const { page, nextCursor } = pager;
  const inserted = ref(0);
  const unseenIds = new Set<string>();
  const unseen = ref(0);
  /** Smallest id of the page as loaded: newer jobs belong on page 1. */
  let floorId = 0;
  let loadSeq = 0;

  function matches(j: JobStatus): boolean {
    if (filters.kind !== "" && j.kind !== filters.kind) return false;
    if (filters.state === "") return true;
    return statusNames.has(filters.state) ? j.status === filters.state : j.state === filters.state;
  }

  async function load(): Promise<void> {
    const seq = ++loadSeq;
    loading.value = true;
    try {
      const cursor = pager.cursor();
      const data = await call(() =>
        api.GET("/api/jobs", {
          params: {
            query: {
              limit: pageSize,
              cursor,
              state: filters.state === "" ? undefined : filters.state,
              kind: filters.kind === "" ? undefined : filters.kind,
            },
          },
        }),
      );
      if (seq !== loadSeq) return; // a newer load won
      rows.value = data.jobs;
      nextCursor.value = data.next_cursor;
      floorId = data.next_cursor === null ? 0 : Math.min(...data.jobs.map((j) => Number(j.job_id)));
      inserted.value = 0;
      unseenIds.clear();
      unseen.value = 0;
      error.value = null;
    } catch (err) {
      if (seq === loadSeq) error.value = err;
    } finally {
      if (seq === loadSeq) loading.value = false;
    }
  }

  /** Applies live messages, oldest first. */
  function apply(msgs: readonly JobStatus[], force = false): void {
    const latest = new Map<string, JobStatus>();
    for (const m of msgs) {
      const prev = latest.get(m.job_id);
      if (prev === undefined || !isOlder(m, prev)) latest.set(m.job_id, m);
    }
    const current = rows.value;
    const index = new Map(current.map((j, i) => [j.job_id, i]));
    let next: (JobStatus | null)[] | null = null;
    const fresh: JobStatus[] = [];
    for (const m of latest.values()) {
      const item: JobStatus = m.result === null ? m : { ...m, result: null }; // lists never hold results
      const i = index.get(m.job_id);
      if (i !== undefined) {
        if (isOlder(m, current[i]!)) continue;
        next ??= current.slice();
        next[i] = matches(m) ? item : null;
        continue;
      }
      if (page.value !== 0 || !matches(m) || Number(m.job_id) <= floorId) continue;
      if (force || inserted.value + fresh.length < insertCap) {
        fresh.push(item);
      } else if (unseenIds.size < maxUnseen && !unseenIds.has(m.job_id)) {
        unseenIds.add(m.job_id);
      }
    }
    unseen.value = unseenIds.size;
    if (next === null && fresh.length === 0) return;
    const kept = (next ?? current).filter((j): j is JobStatus => j !== null);
    if (fresh.length > 0) {
      inserted.value += fresh.length;
      kept.push(...fresh);
      kept.sort((a, b) => Number(b.job_id) - Number(a.job_id));
    }
    rows.value = kept;
  }

  const live = createLiveList("jobs", { apply, load, newest: () => page.value === 0 }, options.batchMs);

  return {
    filters,
    rows,
    loading,
    error,
    page,
    nextCursor,
    inserted,
    unseen,
    pageSize,
    insertCap,
    load,
    apply,
    start: live.start,
    stop: live.stop,
    flush: live.flush,
    receive: live.push,
    async setFilters(f: Partial<JobFilters>): Promise<void> {
      Object.assign(filters, f);
      await pager.first();
    },
    older: pager.older,
    newer: pager.newer,
    first: pager.first,
    /** A job this user just created: shown at once (creation is not
     * streamed), as the server has it. */
    async noteCreated(created: JobCreated): Promise<void> {
      let job: JobStatus;
      try {
        job = await call(() =>
          api.GET("/api/jobs/{id}", { params: { path: { id: created.job_id }, query: { watch_token: created.watch_token } } }),
        );
      } catch {
        job = {
          type: "job_status",
          job_id: created.job_id,
          kind: created.kind,
          status: "pending",
          state: "available",
          attempt: 0,
          result: null,
          error: null,
          updated_at: new Date(0).toISOString(), // any stream message is newer
        };
      }
      apply([job], true);
    },
  };
}

export type JobList = ReturnType<typeof createJobList>;
