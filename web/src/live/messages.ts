// Runtime checks for what arrives over WebSockets: the types come from the
// OpenAPI description, the frames from the network.
import type { JobStatus, WebhookSummary } from "../api/types";

function record(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const statuses = new Set(["pending", "running", "completed", "failed"]);

export function parseJobStatus(data: string): JobStatus | null {
  let v: unknown;
  try {
    v = JSON.parse(data);
  } catch {
    return null;
  }
  if (
    record(v) &&
    v.type === "job_status" &&
    typeof v.job_id === "string" &&
    typeof v.kind === "string" &&
    typeof v.status === "string" &&
    statuses.has(v.status) &&
    typeof v.state === "string" &&
    typeof v.updated_at === "string"
  ) {
    return v as unknown as JobStatus;
  }
  return null;
}

export function parseWebhookSummary(data: string): WebhookSummary | null {
  let v: unknown;
  try {
    v = JSON.parse(data);
  } catch {
    return null;
  }
  if (record(v) && typeof v.id === "string" && typeof v.source === "string" && typeof v.event === "string" && typeof v.created_at === "string") {
    return v as unknown as WebhookSummary;
  }
  return null;
}
