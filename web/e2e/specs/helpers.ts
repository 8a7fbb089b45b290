import { createHmac, randomUUID } from "node:crypto";
import { mkdirSync } from "node:fs";
import type { APIRequestContext, Page } from "@playwright/test";

export const apiURL = (): string => {
  const u = process.env.BESPIN_API_URL;
  if (!u) throw new Error("BESPIN_API_URL is not set: run the browser tests through `make web-browser`");
  return u;
};

const out = process.env.E2E_OUTPUT ?? "test-results";
mkdirSync(`${out}/screenshots`, { recursive: true });

export async function screenshot(page: Page, name: string): Promise<void> {
  const path = `${out}/screenshots/${name}.png`;
  await page.screenshot({ path, fullPage: true });
  console.log(`screenshot: ${path}`);
}

export const outputDir = out;

/** Posts a delivery to the test source, signed like the server checks it.
 * Each body is new (a nonce): the server takes a body it stored within
 * WEBHOOK_DEDUPE_WINDOW for a duplicate. */
export async function postWebhook(request: APIRequestContext, event: string, extra: Record<string, unknown> = {}) {
  const body = JSON.stringify({ event, nonce: randomUUID(), ...extra });
  const sig = createHmac("sha256", "test-secret").update(body).digest("hex");
  const res = await request.post(`${apiURL()}/api/webhooks/test`, {
    headers: { "Content-Type": "application/json", "X-Webhook-Signature": `sha256=${sig}` },
    data: body,
  });
  if (res.status() !== 201) throw new Error(`webhook: ${res.status()} ${await res.text()}`);
  return (await res.json()) as { id: string; event: string };
}

export async function createJob(request: APIRequestContext, length: number, delayMs: number): Promise<string> {
  const res = await request.post(`${apiURL()}/api/jobs/random-text?length=${length}&delay_ms=${delayMs}`);
  if (res.status() !== 202) throw new Error(`create job: ${res.status()} ${await res.text()}`);
  return ((await res.json()) as { job_id: string }).job_id;
}
