// Recorded API shapes, checked against the generated types: a contract
// change in httpapi/openapi.yaml (make web-generate) breaks these first.
import type { JobCreated, JobList, JobStatus, Readiness, SessionInfo, WebhookList, WebhookReceipt, WebhookStats, WebhookSummary } from "../api/types";

export function job(id: number, over: Partial<JobStatus> = {}): JobStatus {
  return {
    type: "job_status",
    job_id: String(id),
    kind: "random-text",
    status: "pending",
    state: "available",
    attempt: 0,
    result: null,
    error: null,
    updated_at: "2026-11-22T10:00:00Z",
    ...over,
  } satisfies JobStatus;
}

export const completedJob = {
  type: "job_status",
  job_id: "42",
  kind: "random-text",
  status: "completed",
  state: "completed",
  attempt: 1,
  result: { text: "aZ3kQ", length: 5 },
  error: null,
  updated_at: "2026-11-22T10:00:02Z",
} satisfies JobStatus;

export const failedJob = {
  ...completedJob,
  job_id: "43",
  status: "failed",
  state: "discarded",
  result: null,
  error: "random-text: generator exploded",
} satisfies JobStatus;

export function jobCreated(id: number): JobCreated {
  return { job_id: String(id), status: "pending", kind: "random-text", watch_token: `wt-${id}` } satisfies JobCreated;
}

export function jobPage(ids: number[], next: string | null): JobList {
  return { jobs: ids.map((id) => job(id)), next_cursor: next } satisfies JobList;
}

export const readiness = { status: "ok", postgres: "ok", redis: "degraded" } satisfies Readiness;
export const openSession = { authenticated: true, expires_at: null, auth: "open" } satisfies SessionInfo;

export const receipt = {
  id: "0b7e2d1c-9a43-4c1e-9d6a-1f0f5a8b9c10",
  source: "test",
  event: "order.created",
  delivery_id: null,
  verified: true,
  signature: "sha256=abc",
  client_addr: "127.0.0.1",
  created_at: "2026-11-22T10:00:00Z",
  processed_at: "2026-11-22T10:00:01Z",
  headers: { "Content-Type": ["application/json"], "X-Webhook-Signature": ["[redacted]"] },
  payload: { event: "order.created", order: { id: 7 } },
  body: btoa('{"event":"order.created","order":{"id":7}}'),
} satisfies WebhookReceipt;

export function receiptPage(n: number, next: string | null): WebhookList {
  return {
    webhooks: Array.from({ length: n }, (_, i) => ({
      ...receipt,
      id: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
      created_at: new Date(Date.parse("2026-11-22T10:00:00Z") - i * 1000).toISOString(),
      headers: undefined,
      payload: undefined,
      body: undefined,
    })),
    next_cursor: next,
  } satisfies WebhookList;
}

export const summary = {
  id: "11111111-2222-4333-8444-555555555555",
  source: "github",
  event: "push",
  created_at: "2026-11-22T10:05:00Z",
} satisfies WebhookSummary;

export const stats = {
  bucket: "hour",
  since: "2026-11-22T08:00:00Z",
  until: "2026-11-22T11:00:00Z",
  stats: [
    { bucket: "2026-11-22T10:00:00Z", source: "github", event: "push", receipts: 3, verified: 3, processed: 3, avg_processing_seconds: 0.1, p95_processing_seconds: 0.2 },
    { bucket: "2026-11-22T10:00:00Z", source: "github", event: "issues", receipts: 2, verified: 2, processed: 1, avg_processing_seconds: 0.5, p95_processing_seconds: 0.9 },
    { bucket: "2026-11-22T08:00:00Z", source: "test", event: "ping", receipts: 4, verified: 4, processed: 4, avg_processing_seconds: null, p95_processing_seconds: null },
  ],
} satisfies WebhookStats;
