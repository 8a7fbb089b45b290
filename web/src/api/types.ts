// Names for the generated API types (schema.d.ts, from httpapi/openapi.yaml
// by `make web-generate`). Nothing here is written by hand but the names.
import type { components, paths } from "./schema";

type Schemas = components["schemas"];

export type { paths };
export type ErrorBody = Schemas["Error"];
export type Readiness = Schemas["Readiness"];
export type SessionInfo = Schemas["SessionInfo"];
export type SessionCreated = Schemas["SessionCreated"];
export type JobStatus = Schemas["JobStatus"];
export type JobStatusName = Schemas["JobStatusName"];
export type JobState = Schemas["JobState"];
export type JobStateFilter = Schemas["JobStateFilter"];
export type JobList = Schemas["JobList"];
export type JobCreated = Schemas["JobCreated"];
export type JobControlResult = Schemas["JobControlResult"];
export type WebhookCreated = Schemas["WebhookCreated"];
export type WebhookReceipt = Schemas["WebhookReceipt"];
export type WebhookList = Schemas["WebhookList"];
export type WebhookSummary = Schemas["WebhookSummary"];
export type WebhookStat = Schemas["WebhookStat"];
export type WebhookStats = Schemas["WebhookStats"];
export type ReplayAccepted = Schemas["ReplayAccepted"];
export type Topic = Schemas["Topic"];
