// One job, watched live: GET /api/jobs/{id}, then /api/ws?job_id= for every
// change, a timeline of the statuses seen, and the job control API. After a
// reconnect it reads the job again over REST (resync), so nothing missed
// while the connection was down stays missing. Signed in (or in open
// development) nothing else is needed; otherwise the job's watch_token,
// from the answer that created it, reads it (production's job privacy).
import { computed, ref, shallowRef } from "vue";
import { api, ApiError, call } from "../api/client";
import type { JobControlResult, JobStatus } from "../api/types";
import { LiveSocket, wsUrl, type LiveSocketOptions } from "../live/socket";
import { parseJobStatus } from "../live/messages";

export interface TimelineEntry {
  status: JobStatus["status"];
  state: JobStatus["state"];
  attempt: number;
  at: string;
}

export interface JobWatchOptions {
  /** The job's watch_token (JobCreated), sent on reads and the socket. */
  watchToken?: string;
  socket?: Partial<LiveSocketOptions<JobStatus>>;
}

function terminal(j: JobStatus | null): boolean {
  return j !== null && (j.status === "completed" || j.status === "failed");
}

export function createJobWatch(id: string, options: JobWatchOptions = {}) {
  const job = shallowRef<JobStatus | null>(null);
  const timeline = ref<TimelineEntry[]>([]);
  const error = shallowRef<unknown>(null);
  const notFound = ref(false);
  const action = ref<"" | "cancel" | "retry" | "delete">("");
  const actionMessage = ref("");
  const actionError = shallowRef<unknown>(null);
  const deleted = ref(false);
  let stopped = false;

  function apply(m: JobStatus): void {
    if (m.job_id !== id) return;
    const cur = job.value;
    if (cur !== null && Date.parse(m.updated_at) < Date.parse(cur.updated_at)) return; // older than shown
    job.value = m;
    const last = timeline.value[timeline.value.length - 1];
    if (last === undefined || last.status !== m.status || last.state !== m.state || last.attempt !== m.attempt) {
      timeline.value = [...timeline.value, { status: m.status, state: m.state, attempt: m.attempt, at: m.updated_at }];
    }
  }

  async function load(): Promise<void> {
    try {
      apply(await call(() => api.GET("/api/jobs/{id}", { params: { path: { id }, query: { watch_token: options.watchToken } } })));
      error.value = null;
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        notFound.value = true;
        socket.stop();
      }
      error.value = err;
    }
  }

  const socket = new LiveSocket<JobStatus>({
    label: `job ${id}`,
    url: () => wsUrl("/api/ws", options.watchToken ? { job_id: id, watch_token: options.watchToken } : { job_id: id }),
    parse: parseJobStatus,
    onMessage: apply,
    onOpen: (reconnected) => {
      if (reconnected) void load();
    },
    // The server closes with 1000 after the final status: nothing follows.
    shouldReconnect: (ev) => !(ev.code === 1000 && terminal(job.value)),
    ...options.socket,
  });

  async function control(kind: "cancel" | "retry"): Promise<void> {
    action.value = kind;
    actionError.value = null;
    actionMessage.value = "";
    try {
      const path = kind === "cancel" ? "/api/jobs/{id}/cancel" : "/api/jobs/{id}/retry";
      const res: JobControlResult = await call(() => api.POST(path, { params: { path: { id } } }), { retryUnavailable: false });
      actionMessage.value = res.message;
      apply(res.job);
      if (res.changed && !terminal(res.job) && !stopped) socket.start(); // watch again after a retry
    } catch (err) {
      actionError.value = err;
    } finally {
      action.value = "";
    }
  }

  return {
    id,
    job,
    timeline,
    error,
    notFound,
    deleted,
    action,
    actionMessage,
    actionError,
    socket,
    connection: computed(() => socket.state.value),
    text: computed(() => job.value?.result?.text ?? null),
    async start(): Promise<void> {
      stopped = false;
      await load();
      if (!stopped && !notFound.value && !terminal(job.value)) socket.start();
    },
    stop(): void {
      stopped = true;
      socket.stop();
    },
    apply,
    load,
    cancel: () => control("cancel"),
    retry: () => control("retry"),
    async remove(): Promise<void> {
      action.value = "delete";
      actionError.value = null;
      try {
        await call(() => api.DELETE("/api/jobs/{id}", { params: { path: { id } } }), { retryUnavailable: false });
        deleted.value = true;
        socket.stop();
        actionMessage.value = `Job ${id} was deleted.`;
      } catch (err) {
        actionError.value = err;
      } finally {
        action.value = "";
      }
    },
  };
}

export type JobWatch = ReturnType<typeof createJobWatch>;
